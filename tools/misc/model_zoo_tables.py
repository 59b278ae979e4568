"""Write the model tables of docs/model_zoo.md from the metafiles.

    python tools/misc/model_zoo_tables.py           # rewrite docs/model_zoo.md
    python tools/misc/model_zoo_tables.py --check   # exit 1 if out of date

The tables sit between ``<!-- MODEL TABLES -->`` and
``<!-- /MODEL TABLES -->`` of docs/model_zoo.md (the README links there and
stays short); one table per collection of ``model-index.yml``,
one row per model: task, dataset, parameters, FLOPs, the metrics with where
they come from, the config and the weights (ours, or the official files that
``get_model(name, pretrained=True)`` downloads and converts while loading).
"""
import argparse
import os.path as osp
import sys

import yaml

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: The page that holds the tables, relative to the repository root; the
#: tables' links are relative to its folder.
PAGE = 'docs/model_zoo.md'
LINK_PREFIX = '../'
BEGIN, END = '<!-- MODEL TABLES -->', '<!-- /MODEL TABLES -->'
METRIC_NAMES = {
    'Top 1 Accuracy': 'top-1',
    'Top 5 Accuracy': 'top-5',
    'box AP': 'box AP',
    'mask AP': 'mask AP',
    'mIoU': 'mIoU',
}


def load_index(root=ROOT):
    with open(osp.join(root, 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    for path in index['Import']:
        with open(osp.join(root, path)) as f:
            yield path, yaml.safe_load(f)


def _datasets(model):
    return list(dict.fromkeys(
        r['Dataset'] for r in model.get('Results') or []))


def _metrics(model):
    parts = []
    several = len(_datasets(model)) > 1
    for result in model.get('Results') or []:
        where = f'{result["Dataset"]}: ' if several else ''
        for name, value in (result.get('Metrics') or {}).items():
            parts.append(f'{where}{METRIC_NAMES.get(name, name)} {value}')
    if not parts:
        return '-'
    source = model['Metadata'].get('Results Source', '')
    source = source.split(' (')[0] if source else ''
    return ', '.join(parts) + (f' ({source})' if source else '')


def _weights(model):
    converted = (model.get('Converted From') or {}).get('Weights')
    if model.get('Weights') and model['Weights'] == converted:
        # get_model(name, pretrained=True) converts it while it loads.
        return f'[official]({converted}) (converted on load)'
    if model.get('Weights'):
        return f'[ckpt]({model["Weights"]})'
    if converted:
        return f'[official]({converted}) (convert)'
    return '-'


def _reported_flops(model):
    """The paper's (or official README's) FLOPs, how it counts them, and
    our count made the same way where a switch of get_flops reproduces it."""
    meta = model['Metadata']
    if 'Reported GFLOPs' not in meta:
        return '-'
    text = (f"{meta['Reported GFLOPs']} ({meta['Reported FLOPs Source']}; "
            f"{meta['Reported FLOPs Convention']}")
    ours = meta.get('FLOPs In Reported Convention')
    return text + (f'; ours counted so: {ours / 1e9:.2f})' if ours else ')')


def _task(model):
    results = model.get('Results') or []
    return results[0]['Task'] if results else '-'


def _dataset(model):
    datasets = _datasets(model)
    return datasets[0] if len(datasets) == 1 else ', '.join(datasets) or '-'


def render(root=ROOT):
    """One table per collection, its models in index order (a network's
    classification metafile, then its dense one)."""
    collections, models = {}, {}
    for path, metafile in load_index(root):
        for collection in metafile.get('Collections') or []:
            collection.setdefault('README',
                                  osp.dirname(path) + '/README.md')
            collections[collection['Name']] = collection
        for model in metafile['Models']:
            models.setdefault(model['In Collection'], []).append(model)
    lines = []
    for name, collection in collections.items():
        readme = collection['README']
        lines += [
            f'### {name}', '',
            f'[{collection["Paper"]["Title"]}]({collection["Paper"]["URL"]})'
            f' · details: [{readme}]({LINK_PREFIX}{readme})', '',
            '| model | task | dataset | params (M) | FLOPs (G) | reported '
            'FLOPs (G) | metrics (source) | weights |',
            '|---|---|---|---:|---:|---|---|---|'
        ]
        for model in models.get(name, []):
            meta = model['Metadata']
            params = meta.get('Parameters')
            flops = meta.get('FLOPs')
            lines.append(
                '| [{}]({}) | {} | {} | {} | {} | {} | {} | {} |'.format(
                    model['Name'], LINK_PREFIX + model['Config'], _task(model),
                    _dataset(model), f'{params / 1e6:.2f}' if params else '-',
                    f'{flops / 1e9:.2f}' if flops else '-',
                    _reported_flops(model), _metrics(model),
                    _weights(model)))
        lines.append('')
    return '\n'.join(lines)


def updated_page(text, tables):
    if BEGIN not in text:
        raise SystemExit(f'{PAGE} has no {BEGIN} marker')
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1] if END in rest else rest
    return f'{head}{BEGIN}\n{tables}\n{END}{tail}'


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--check', action='store_true',
                        help=f'exit 1 when {PAGE} is out of date')
    args = parser.parse_args()
    path = osp.join(ROOT, PAGE)
    with open(path) as f:
        text = f.read()
    new = updated_page(text, render())
    if args.check:
        if new != text:
            print(f'{PAGE} model tables are out of date; run '
                  'python tools/misc/model_zoo_tables.py')
            sys.exit(1)
        print(f'{PAGE} model tables are up to date')
        return
    with open(path, 'w') as f:
        f.write(new)
    print(f'wrote the model tables into {path}')


if __name__ == '__main__':
    main()
