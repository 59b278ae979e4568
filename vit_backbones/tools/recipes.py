"""The recipe table: every training setting a config resolves to, set beside
the source it follows.

``configs/recipes.yml`` holds, for each family of configs (e.g. "HAT-Net
ImageNet-1k, Tiny and Small"), each hyper-parameter's value and its source (a
paper section or table, or an official file and line). :func:`read_recipe`
reads the same settings from a resolved config, so that a test can check every
config against its row, and :func:`render_markdown` writes the table as
``docs/recipes.md`` (``python tools/misc/recipe_table.py``).

Example:
    >>> from mmengine.config import Config
    >>> from vit_backbones.tools.recipes import read_recipe
    >>> cfg = Config.fromfile('configs/hat_net/hat-net-tiny_8xb128_in1k.py')
    >>> read_recipe(cfg, 'hat-net-tiny_8xb128_in1k.py')['lr']
    0.001
"""
import fnmatch
import inspect
import math
import os.path as osp
import re

import yaml

# (key, label, tasks it applies to). The order is the table's.
KEYS = (
    ('batch', 'GPUs x images per GPU', 'cls det seg'),
    ('optimizer', 'optimizer', 'cls det seg'),
    ('lr', 'learning rate', 'cls det seg'),
    ('lr_batch', 'lr scaled from total batch', 'cls det seg'),
    ('weight_decay', 'weight decay', 'cls det seg'),
    ('decay_exempt', 'no weight decay on', 'cls det seg'),
    ('warmup', 'warm-up', 'cls det seg'),
    ('schedule', 'schedule', 'cls det seg'),
    ('length', 'training length', 'cls det seg'),
    ('drop_path', 'drop path', 'cls det seg'),
    ('mixup_cutmix', 'Mixup / CutMix', 'cls'),
    ('label_smoothing', 'label smoothing', 'cls'),
    ('sampler', 'sampler', 'cls'),
    ('train_transforms', 'training transforms', 'cls det seg'),
    ('test_transforms', 'test transforms', 'cls det seg'),
    ('ema', 'model EMA', 'cls det seg'),
    ('clip_grad', 'gradient clipping (max norm)', 'cls det seg'),
    ('precision', 'precision', 'cls det seg'),
    ('hooks', 'other training hooks', 'cls det seg'),
)
LABELS = {key: label for key, label, _ in KEYS}

# Pipeline steps that only load or pack data: not part of a recipe.
_PLUMBING = ('LoadImageFromFile', 'LoadAnnotations', 'PackInputs',
             'PackDetInputs', 'PackSegInputs')
# Arguments that say how, not what (backends, fill statistics derived from
# the normalisation, the image-level details of RandAugment's operations).
_QUIET_ARGS = ('type', 'backend', 'backend_args', 'hparams', 'fill_color',
               'fill_std', 'direction', 'total_level', 'meta_keys',
               '_scope_')


def config_task(cfg):
    """'cls', 'det' or 'seg', from the config's default scope (the toolbox
    that runs it)."""
    scope = cfg.get('default_scope', 'mmpretrain')
    return dict(mmpretrain='cls', mmdet='det', mmseg='seg')[scope]


def _number(value):
    """Floats as the table writes them (1e-3, not 0.0010000000000000002)."""
    if isinstance(value, float):
        return float(f'{value:.6g}')
    if isinstance(value, (list, tuple)):
        return [_number(v) for v in value]
    return value


def _plain(value):
    """Config values as YAML data: tuples as lists, floats rounded."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return _number(value)


def _transform(step):
    """``Type(arg=value, ...)`` without the arguments that do not change
    what the step does to the data."""
    args = ', '.join(f'{k}={_plain(v)}' for k, v in step.items()
                     if k not in _QUIET_ARGS)
    return f"{step['type']}({args})"


def _transforms(pipeline):
    return [
        _transform(step) for step in pipeline
        if step['type'] not in _PLUMBING
    ]


def _schedulers(cfg):
    schedulers = cfg.param_scheduler
    return list(schedulers) if isinstance(schedulers, (list, tuple)) else [
        schedulers
    ]


def _span(scheduler, cfg):
    """(begin, end, unit, stepped) of a scheduler as the runner runs it."""
    by_epoch = scheduler.get('by_epoch', True)
    unit = 'epoch' if by_epoch else 'iter'
    end = scheduler.get('end')
    if end is None or end > 1e8:  # mmengine's INF: to the end of training
        end = cfg.train_cfg.get('max_epochs' if by_epoch else 'max_iters')
    stepped = ('iter' if not by_epoch or scheduler.get('convert_to_iter_based')
               else 'epoch')
    return scheduler.get('begin', 0), end, unit, stepped


def _warmup(cfg):
    first = _schedulers(cfg)[0]
    if first.type.split('.')[-1] != 'LinearLR' or len(_schedulers(cfg)) < 2:
        return None
    begin, end, unit, stepped = _span(first, cfg)
    return dict(
        start_factor=_number(first.get('start_factor', 1 / 3)),
        length=f'{end - begin} {unit}s',
        stepped=f'per {stepped}')


def _schedule(cfg):
    main = _schedulers(cfg)[1:] if _warmup(cfg) else _schedulers(cfg)
    rows = []
    for scheduler in main:
        kind = scheduler.type.split('.')[-1]
        begin, end, unit, stepped = _span(scheduler, cfg)
        row = dict(type=kind, span=f'{unit}s {begin}-{end}',
                   stepped=f'per {stepped}')
        if kind == 'CosineAnnealingLR':
            row['eta_min'] = _number(scheduler.get('eta_min', 0.))
            if scheduler.get('T_max', end - begin) != end - begin:
                row['T_max'] = scheduler.T_max  # a cosine cut short
        elif kind == 'MultiStepLR':
            row['milestones'] = _plain(scheduler.milestones)
            row['gamma'] = _number(scheduler.get('gamma', 0.1))
        elif kind == 'PolyLR':
            row['power'] = _number(scheduler.get('power', 1.))
            row['eta_min'] = _number(scheduler.get('eta_min', 0.))
        else:
            row.update({
                k: _plain(v)
                for k, v in scheduler.items()
                if k not in ('type', 'begin', 'end', 'by_epoch',
                             'convert_to_iter_based', '_scope_')
            })
        rows.append(row)
    return rows


def _optimizer(cfg):
    """The optimizer with its effective betas/eps/momentum: the values the
    config sets, else torch's defaults."""
    import torch
    opt = cfg.optim_wrapper.optimizer
    kind = opt.type.split('.')[-1]
    defaults = inspect.signature(getattr(torch.optim, kind)).parameters
    text = kind
    for arg in ('betas', 'eps', 'momentum', 'nesterov'):
        if arg in defaults:
            value = opt.get(arg, defaults[arg].default)
            text += f', {arg} {_plain(value)}'
    return text


def _decay_exempt(cfg):
    paramwise = cfg.optim_wrapper.get('paramwise_cfg') or {}
    exempt = []
    for key, what in (('norm_decay_mult', 'norms'), ('bias_decay_mult',
                                                     'biases'),
                      ('flat_decay_mult', 'all 1-D parameters'),
                      ('dwconv_decay_mult', 'depth-wise convs')):
        if paramwise.get(key, 1.) == 0:
            exempt.append(what)
    for key, settings in sorted((paramwise.get('custom_keys') or {}).items()):
        if settings.get('decay_mult', 1.) == 0:
            exempt.append(f"'{key}'")
    return exempt or None


def _total_batch(cfg, name):
    per_gpu = cfg.train_dataloader.batch_size
    match = re.search(r'_(\d+)xb(\d+)', name)
    if match is None:  # mmdet's names: the total is in auto_scale_lr
        return f'{per_gpu} per GPU'
    gpus, named = int(match.group(1)), int(match.group(2))
    if named != per_gpu:
        return f'{gpus}x{per_gpu} (the file name says {gpus}xb{named})'
    return f'{gpus}x{per_gpu}'


def _hooks(cfg):
    hooks = [
        _transform(hook) for hook in cfg.get('custom_hooks') or []
        if hook.type.split('.')[-1] != 'EMAHook'
    ]
    return hooks or None


def _ema(cfg):
    for hook in cfg.get('custom_hooks') or []:
        if hook.type.split('.')[-1] == 'EMAHook':
            return _transform(hook)
    return None


def _loss(cfg):
    head = cfg.model.get('head') or {}
    loss = head.get('loss') or {}
    return loss.get('label_smooth_val')


def _mixup_cutmix(cfg):
    augments = (cfg.model.get('train_cfg') or {}).get('augments')
    if not augments:
        return None
    return [f"{a.type.split('.')[-1]} {_number(a.alpha)}" for a in augments]


def _sampler(cfg):
    sampler = cfg.train_dataloader.sampler
    return _transform(sampler)


def _test_pipeline(cfg):
    dataset = cfg.test_dataloader.dataset
    # mmdet/mmseg's ConcatDataset-free layouts; classification sets too.
    return _transforms(dataset.get('pipeline', []))


def _length(cfg):
    if cfg.train_cfg.get('by_epoch', False) or 'max_epochs' in cfg.train_cfg:
        return f'{cfg.train_cfg.max_epochs} epochs'
    return f'{cfg.train_cfg.max_iters} iters'


def read_recipe(cfg, name):
    """Every setting of :data:`KEYS` that applies to the config's task, read
    from the resolved config ``cfg`` (file name ``name`` for its NxbM).

    Returns:
        dict: key -> plain YAML data (numbers, strings, lists, dicts, None).
    """
    task = config_task(cfg)
    opt = cfg.optim_wrapper.optimizer
    clip = cfg.optim_wrapper.get('clip_grad')
    readers = dict(
        batch=lambda: _total_batch(cfg, name),
        optimizer=lambda: _optimizer(cfg),
        lr=lambda: _number(opt.lr),
        lr_batch=lambda: (cfg.get('auto_scale_lr') or {}).get(
            'base_batch_size'),
        weight_decay=lambda: _number(opt.get('weight_decay', 0.)),
        decay_exempt=lambda: _decay_exempt(cfg),
        warmup=lambda: _warmup(cfg),
        schedule=lambda: _schedule(cfg),
        length=lambda: _length(cfg),
        drop_path=lambda: _number(cfg.model.backbone.get('drop_path_rate')),
        mixup_cutmix=lambda: _mixup_cutmix(cfg),
        label_smoothing=lambda: _number(_loss(cfg)),
        sampler=lambda: _sampler(cfg),
        train_transforms=lambda: _transforms(
            cfg.train_dataloader.dataset.pipeline),
        test_transforms=lambda: _test_pipeline(cfg),
        ema=lambda: _ema(cfg),
        clip_grad=lambda: _number(clip.max_norm) if clip else None,
        precision=lambda: ('amp' if cfg.optim_wrapper.get('type', '').split(
            '.')[-1] == 'AmpOptimWrapper' else 'fp32'),
        hooks=lambda: _hooks(cfg),
    )
    return {
        key: readers[key]()
        for key, _, tasks in KEYS if task in tasks.split()
    }


def load_table(path):
    """The recipe table: {network: {'title', 'sources', 'families'}} (and
    ``_shared``, the YAML anchors the rows reuse)."""
    with open(path, encoding='utf-8') as f:
        return yaml.safe_load(f)


def families_of(table, network, name):
    """The families of ``network`` whose config patterns match ``name``."""
    return [
        family for family in table[network]['families'] if any(
            fnmatch.fnmatchcase(name, pattern)
            for pattern in family['configs'])
    ]


def compare(recipe, family, name):
    """The rows where a config's settings depart from its family's table,
    as messages that cite each row's source."""
    problems = []
    rows = family['rows']
    for key, value in recipe.items():
        if key not in rows:
            problems.append(f'{LABELS[key]} ({key}): not in the table '
                            f'(the config has {value!r})')
            continue
        row = rows[key]
        expected = row_value(row, name)
        if not _equal(value, expected):
            problems.append(
                f"{LABELS[key]} ({key}): the config has {value!r}, the "
                f"table {expected!r} (source: {row['source']})")
    for key in sorted(set(rows) - set(recipe)):
        problems.append(f'{key}: in the table but not a setting of this task')
    return problems


def row_value(row, name):
    """A row's value for config ``name``: ``value``, or the first matching
    pattern of ``by_config`` where the value differs between variants."""
    if 'by_config' not in row:
        return row['value']
    for pattern, value in row['by_config'].items():
        if fnmatch.fnmatchcase(name, pattern):
            return value
    raise KeyError(f'no by_config pattern of the row matches {name}')


def _equal(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return (isinstance(a, (int, float)) and isinstance(b, (int, float))
                and math.isclose(a, b, rel_tol=1e-9, abs_tol=0.))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return a == b


def _cell(value):
    if value is None:
        return 'none'
    if isinstance(value, list):
        return '<br>'.join(_cell(v) for v in value) or 'none'
    if isinstance(value, dict):
        return ', '.join(
            f'{k} {v}' if isinstance(v, list) else f'{k} {_cell(v)}'
            for k, v in value.items())
    return str(value).replace('|', '\\|')


def render_markdown(table, source_path='configs/recipes.yml'):
    """``docs/recipes.md``: one table per config family."""
    lines = [
        '# Training recipes and their sources', '',
        f'Generated from `{source_path}` by '
        '`python tools/misc/recipe_table.py`; do not edit by hand. '
        '`tests/test_configs/test_recipes.py` resolves every config and '
        'checks each setting against its row, so a config that departs '
        'from its source fails with the row\'s citation.', ''
    ]
    for network, entry in table.items():
        if network.startswith('_'):  # YAML anchors shared by the networks
            continue
        lines += [f"## {entry['title']}", '']
        for label, source in entry['sources'].items():
            lines.append(f'- **{label}**: {source}')
        lines.append('')
        for family in entry['families']:
            configs = ', '.join(f'`{c}`' for c in family['configs'])
            lines += [f"### {family['name']}", '', f'Configs: {configs}', '']
            if family.get('note'):
                lines += [family['note'].strip(), '']
            lines += ['| setting | value | source |', '|---|---|---|']
            for key, label, _ in KEYS:
                if key not in family['rows']:
                    continue
                row = family['rows'][key]
                if 'by_config' in row:
                    value = '<br>'.join(
                        f'`{pattern}`: {_cell(v)}'
                        for pattern, v in row['by_config'].items())
                else:
                    value = _cell(row['value'])
                source = _cell(row['source'])
                if row.get('note'):
                    source += f"<br>*Differs:* {_cell(row['note'])}"
                lines.append(f'| {label} | {value} | {source} |')
            lines.append('')
    return '\n'.join(lines)


def config_names(config_root, network):
    """The config files of a network (the families' patterns match these)."""
    import glob
    return sorted(
        osp.basename(p)
        for p in glob.glob(osp.join(config_root, network, '*.py')))
