"""Fill in or check the parameters and FLOPs of a metafile's models.

    python tools/misc/refresh_metafile.py configs/hvt/metafile.yml          # fill missing
    python tools/misc/refresh_metafile.py configs/hvt/metafile.yml --all    # recompute all
    python tools/misc/refresh_metafile.py configs/*/metafile*.yml --check   # exit 1 on a mismatch

Parameters are those of the config's full model; FLOPs are multiply-
accumulates of one forward at the config's default input (what
``tools/analysis_tools/get_flops.py CONFIG`` reports as "all ops, attention
matmuls included"). A model whose ``Reported FLOPs Convention`` is one of
``vit_backbones.tools.complexity.CONVENTIONS`` (how its paper or official
README counts) also gets ``FLOPs In Reported Convention``: our count made
the way the reported figure was. The file is rewritten in one style; its
leading comment block is kept.
"""
import argparse
import os.path as osp
import sys

import yaml
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import MODELS, init_default_scope

from vit_backbones.tools.complexity import (CONVENTIONS, count_params,
                                            default_input_shape,
                                            model_complexity)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def complexity(config_path, flops=True, convention=None):
    """Parameters and FLOPs (all ops) of a config's model, and with a
    ``convention`` of ``CONVENTIONS`` also the FLOPs counted that way, from
    one built model: ``(params, flops, flops_in_convention or None)``."""
    cfg = Config.fromfile(osp.join(ROOT, config_path))
    backbone = cfg.model.get('backbone')
    if backbone is not None and 'init_cfg' in backbone:
        backbone.init_cfg = None
    scope = cfg.get('default_scope', 'mmpretrain')
    init_default_scope(scope)
    model = revert_sync_batchnorm(MODELS.build(cfg.model)).eval()
    if not flops:
        return count_params(model), None, None
    shape = default_input_shape(cfg)
    samples = None
    if scope == 'mmdet':
        from mmdet.structures import DetDataSample
        sample = DetDataSample()
        sample.set_metainfo(
            dict(img_shape=shape, ori_shape=shape, pad_shape=shape,
                 scale_factor=(1., 1.), batch_input_shape=shape))
        samples = [sample]
    result = model_complexity(model, shape, data_samples=samples)
    in_convention = None
    if convention is not None:
        in_convention = model_complexity(
            model, shape, data_samples=samples,
            **CONVENTIONS[convention])['flops']
    return result['params'], result['flops'], in_convention


def _leading_comments(text):
    lines = []
    for line in text.splitlines():
        if line.startswith('#') or not line.strip():
            lines.append(line)
        else:
            break
    return '\n'.join(lines).strip()


def refresh(path, recompute_all=False, check=False):
    with open(path) as f:
        text = f.read()
    data = yaml.safe_load(text)
    problems = []
    for model in data['Models']:
        meta = model.setdefault('Metadata', {})
        missing = not meta.get('Parameters') or not meta.get('FLOPs') or (
            meta.get('Reported FLOPs Convention') in CONVENTIONS
            and not meta.get('FLOPs In Reported Convention'))
        if not (recompute_all or check or missing):
            continue
        convention = meta.get('Reported FLOPs Convention')
        if convention not in CONVENTIONS:
            convention = None
        params, flops, in_convention = complexity(model['Config'],
                                                  convention=convention)
        values = [('Parameters', params), ('FLOPs', flops)]
        if convention is not None:
            values.append(('FLOPs In Reported Convention', in_convention))
        for key, value in values:
            if meta.get(key) != value:
                problems.append(f'{model["Name"]}: {key} {meta.get(key)} '
                                f'-> {value}')
                meta[key] = value
        print(f'{model["Name"]}: {params:,} params, {flops / 1e9:.3f} GFLOPs',
              flush=True)
    if check:
        return problems
    header = _leading_comments(text)
    body = yaml.safe_dump(
        data, sort_keys=False, allow_unicode=True, width=100)
    with open(path, 'w') as f:
        f.write((header + '\n' if header else '') + body)
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('metafiles', nargs='+')
    parser.add_argument('--all', action='store_true', help='recompute all')
    parser.add_argument(
        '--check', action='store_true', help='only report mismatches')
    args = parser.parse_args(argv)
    problems = []
    for path in args.metafiles:
        problems += refresh(path, args.all, args.check)
    for line in problems:
        print(('MISMATCH ' if args.check else 'updated ') + line)
    if args.check and problems:
        sys.exit(1)


if __name__ == '__main__':
    main()
