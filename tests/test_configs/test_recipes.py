"""The recipe table (configs/recipes.yml): every config follows its row's
source, the table is complete and rendered, and the learning rate each
config produces is the table's at the start, the end of the warm-up, the
middle and the end of training (and stays within the stated gap of the
official schedule)."""
import copy
import functools
import math
import os.path as osp

import pytest
import torch
from helpers import CONFIG_ROOT, REPO_ROOT, load_config

from vit_backbones.tools.recipes import (KEYS, compare, config_names,
                                         config_task, families_of, load_table,
                                         read_recipe, render_markdown,
                                         row_value)

TABLE_PATH = osp.join(CONFIG_ROOT, 'recipes.yml')
NETWORKS = ('hat_net', 'hvt', 'dhvt', 'vil')
CONFIGS = [(net, name) for net in NETWORKS
           for name in config_names(CONFIG_ROOT, net)]


@functools.lru_cache(maxsize=None)
def _table():
    return load_table(TABLE_PATH)


@functools.lru_cache(maxsize=None)
def _config(net, name):
    return load_config(osp.join(CONFIG_ROOT, net, name))


def family(net, name):
    found = families_of(_table(), net, name)
    assert len(found) == 1, (
        f'{net}/{name} matches {len(found)} families of configs/recipes.yml '
        f'({[f["name"] for f in found]}); it must match exactly one')
    return found[0]


def test_every_config_is_in_exactly_one_family():
    assert set(_table()) - {'_shared'} == set(NETWORKS)
    for net in NETWORKS:
        names = config_names(CONFIG_ROOT, net)
        for name in names:
            family(net, name)
        for fam in _table()[net]['families']:
            assert any(fam in families_of(_table(), net, n)
                       for n in names), fam['name']


@pytest.mark.parametrize('net,name', CONFIGS,
                         ids=[f'{n}/{c}' for n, c in CONFIGS])
def test_config_follows_its_recipe(net, name):
    fam = family(net, name)
    problems = compare(read_recipe(_config(net, name), name), fam, name)
    assert not problems, f'{net}/{name} departs from "{fam["name"]}":\n' + (
        '\n'.join(problems))


def test_every_row_has_a_source_and_every_setting_a_row():
    keys = {key for key, _, _ in KEYS}
    for net in NETWORKS:
        for fam in _table()[net]['families']:
            name = next(n for n in config_names(CONFIG_ROOT, net)
                        if fam in families_of(_table(), net, n))
            task = config_task(_config(net, name))
            wanted = {k for k, _, tasks in KEYS if task in tasks.split()}
            assert set(fam['rows']) == wanted, (fam['name'],
                                                set(fam['rows']) ^ wanted)
            for key, row in fam['rows'].items():
                assert key in keys
                assert ('value' in row) != ('by_config' in row), key
                assert isinstance(row.get('source'), str) and row['source']


def test_a_departure_names_the_row_and_its_source():
    name = 'hat-net-tiny_8xb128_in1k.py'
    cfg = copy.deepcopy(_config('hat_net', name))
    cfg.optim_wrapper.optimizer.lr = 2e-3
    cfg.model.backbone.drop_path_rate = 0.3
    problems = compare(read_recipe(cfg, name), family('hat_net', name), name)
    assert len(problems) == 2
    lr_problem = next(p for p in problems if p.startswith('learning rate'))
    assert '0.002' in lr_problem and '0.001' in lr_problem
    assert 'PVT main.py:70' in lr_problem
    assert any('pvt_{tiny,small}.py:3' in p for p in problems)


def test_docs_recipes_md_is_rendered_from_the_table():
    with open(osp.join(REPO_ROOT, 'docs', 'recipes.md'),
              encoding='utf-8') as f:
        written = f.read()
    assert written == render_markdown(_table()), (
        'docs/recipes.md is stale: run python tools/misc/recipe_table.py')


# -- the learning rate over training ---------------------------------------


def runner_lrs(cfg, epoch_length):
    """The learning rate of every training iteration, with the config's
    schedulers built and stepped as mmengine's runner and ParamSchedulerHook
    do (iteration-based ones after each iteration, epoch-based ones after
    each epoch)."""
    from mmengine.optim import OptimWrapper
    from mmengine.registry import PARAM_SCHEDULERS
    lr = cfg.optim_wrapper.optimizer.lr
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    wrapper = OptimWrapper(optimizer)
    by_epoch = 'max_epochs' in cfg.train_cfg
    total = (cfg.train_cfg.max_epochs * epoch_length
             if by_epoch else cfg.train_cfg.max_iters)
    schedulers = []
    configs = cfg.param_scheduler
    for scheduler in (configs if isinstance(configs, list) else [configs]):
        scheduler = copy.deepcopy(dict(scheduler))
        scheduler.pop('_scope_', None)
        scheduler['type'] = scheduler['type'].split('.')[-1]
        # Runner._build_param_scheduler: no `end` means the end of training.
        if 'end' not in scheduler:
            scheduler['end'] = (cfg.train_cfg.max_epochs if scheduler.get(
                'by_epoch', True) else cfg.train_cfg.max_iters)
        schedulers.append(
            PARAM_SCHEDULERS.build(
                scheduler,
                default_args=dict(optimizer=wrapper,
                                  epoch_length=epoch_length)))
    lrs = []
    for i in range(total):
        lrs.append(optimizer.param_groups[0]['lr'])
        for s in schedulers:
            if not s.by_epoch:
                s.step()
        if by_epoch and (i + 1) % epoch_length == 0:
            for s in schedulers:
                if s.by_epoch:
                    s.step()
    return lrs


def _span(text):
    unit, span = text.split()
    begin, end = (int(v) for v in span.split('-'))
    return unit, begin, end


def recipe_lr(rows, name, i, epoch_length):
    """The rate at iteration ``i`` as the table's rows describe it."""
    peak = row_value(rows['lr'], name)
    lr = peak
    epoch = i / epoch_length
    warmup = row_value(rows['warmup'], name)
    if warmup:
        length, unit = warmup['length'].split()
        length = int(length)
        at = (i / length if unit == 'iters' else
              (epoch if warmup['stepped'] == 'per iter' else math.floor(epoch))
              / length)
        if at < 1:
            s = warmup['start_factor']
            lr *= s + (1 - s) * at
    for phase in row_value(rows['schedule'], name):
        unit, begin, end = _span(phase['span'])
        t = epoch if unit == 'epochs' else i
        if phase['stepped'] == 'per epoch':
            t = math.floor(t)
        t -= begin
        if t < 0:
            continue
        kind = phase['type']
        if kind == 'CosineAnnealingLR':
            eta = phase['eta_min']
            t = min(t, end - begin)
            lr = eta + (lr - eta) * (1 + math.cos(math.pi * t /
                                                  (end - begin))) / 2
        elif kind == 'MultiStepLR':
            lr *= phase['gamma']**sum(t + begin >= m
                                      for m in phase['milestones'])
        elif kind == 'PolyLR':
            eta, total = phase['eta_min'], end - begin - 1
            lr = eta + (lr - eta) * (1 - min(t, total) / total)**phase['power']
        else:
            raise AssertionError(f'no closed form for {kind}')
    return lr


def official_lr(spec, peak, i, epoch_length):
    """The official rate at iteration ``i``: timm's CosineLRScheduler as
    DeiT's main.py steps it (``step(epoch)`` after each epoch: epoch ``e``
    trains at the value for ``e - 1``, epoch 0 at the warm-up start), or
    ViL's WarmupCosineAnnealingLR stepped per iteration."""
    w, epochs, eta = spec['warmup_epochs'], spec['epochs'], spec['min_lr']
    if spec['kind'] == 'timm':
        t = max(i // epoch_length - 1, 0)
        if t < w:
            w0 = spec['warmup_lr']
            return w0 + t * (peak - w0) / w
        return eta + (peak - eta) * (1 + math.cos(math.pi * t / epochs)) / 2
    t = i / epoch_length
    if t < w:
        f = spec['warmup_factor']
        return peak * (f * (1 - t / w) + t / w)
    return eta + (peak - eta) * (1 + math.cos(math.pi * t / epochs)) / 2


# One config of each family, every schedule kind.
LR_CONFIGS = [
    ('hat_net', 'hat-net-large_8xb128_in1k.py'),
    ('hat_net', 'retinanet_hat-net-tiny_fpn_1x_coco.py'),
    ('hvt', 'hvt-s-1_8xb128_in1k.py'),
    ('hvt', 'hvt-s-2_1xb128_cifar100.py'),
    ('hvt', 'mask-rcnn_hvt-s-1_fpn_1x_coco.py'),
    ('hvt', 'fpn_hvt-s-1_8xb2-80k_ade20k-512x512.py'),
    ('dhvt', 'dhvt-small-p16_4xb128_in1k.py'),
    ('dhvt', 'dhvt-small-p4_2xb128_cifar100.py'),
    ('dhvt', 'dhvt-small-p16_2xb64_domainnet.py'),
    ('vil', 'vil-tiny_8xb128_in1k.py'),
    ('vil', 'mask-rcnn_vil-small_fpn_1x_coco.py'),
]


@pytest.mark.parametrize('net,name', LR_CONFIGS,
                         ids=[f'{n}/{c}' for n, c in LR_CONFIGS])
def test_lr_at_start_warmup_end_middle_and_end(net, name):
    cfg = _config(net, name)
    fam = family(net, name)
    rows = fam['rows']
    # Long enough epochs for the detection warm-up (1000 iterations) to
    # end inside the first epoch, as it does on COCO (7330 per epoch).
    epoch_length = 10 if config_task(cfg) == 'cls' else 2000
    lrs = runner_lrs(cfg, epoch_length)
    total = len(lrs)
    points = {'start': 0, 'middle': total // 2, 'end': total - 1}
    warmup = row_value(rows['warmup'], name)
    if warmup:
        length, unit = warmup['length'].split()
        points['end of warm-up'] = int(length) * (
            epoch_length if unit == 'epochs' else 1)
    peak = row_value(rows['lr'], name)
    for what, i in points.items():
        expected = recipe_lr(rows, name, i, epoch_length)
        assert math.isclose(lrs[i], expected, rel_tol=1e-6), (
            f'{what} (iteration {i}): the config gives {lrs[i]:.6g}, the '
            f'recipe {expected:.6g} ({rows["schedule"]["source"]})')
    if warmup:
        assert math.isclose(lrs[points['end of warm-up']], peak, rel_tol=1e-6)
        assert math.isclose(lrs[0], peak * warmup['start_factor'],
                            rel_tol=1e-6)


OFFICIAL = [(net, fam['name']) for net in NETWORKS
            for fam in load_table(TABLE_PATH)[net]['families']
            if 'official_lr' in fam]


@pytest.mark.parametrize('net,family_name', OFFICIAL,
                         ids=[f'{n}/{f}' for n, f in OFFICIAL])
def test_gap_to_the_official_schedule_is_the_stated_one(net, family_name):
    """The largest gap between a family's rate and the official one, over
    its configs, is the figure the schedule row's note states: from the
    second epoch after the warm-up on (timm's rate trails by one epoch), and
    both end at the official minimum."""
    fam = next(f for f in _table()[net]['families']
               if f['name'] == family_name)
    spec = fam['official_lr']
    epoch_length = 10
    gaps = {}
    for name in config_names(CONFIG_ROOT, net):
        if fam not in families_of(_table(), net, name):
            continue
        cfg = _config(net, name)
        lrs = runner_lrs(cfg, epoch_length)
        peak = cfg.optim_wrapper.optimizer.lr
        start = (spec['warmup_epochs'] + 1) * epoch_length
        gaps[name] = max(
            abs(lrs[i] - official_lr(spec, peak, i, epoch_length)) / peak
            for i in range(start, len(lrs)))
        last = official_lr(spec, peak, len(lrs) - 1, epoch_length)
        assert abs(lrs[-1] - last) < 0.01 * peak, name
    assert round(max(gaps.values()), 3) == spec['max_gap'], gaps
