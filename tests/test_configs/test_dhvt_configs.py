"""Every DHVT config builds its full model and runs one loss step (with
backward) and one predict step on synthetic data; the weight-decay rules
catch exactly what the official training exempts."""
import glob
import os.path as osp

import pytest
import torch
from helpers import (CONFIG_ROOT, build_model_from_config, config_task,
                     load_config, run_loss_and_predict)

CONFIGS = sorted(
    osp.basename(p) for p in glob.glob(osp.join(CONFIG_ROOT, 'dhvt', '*.py')))
# small inputs per task
SIZES = dict(cls=(32, 32), det=(64, 96), seg=(64, 64))


def _config(name):
    cfg = load_config(osp.join('configs', 'dhvt', name))
    cfg.model.backbone.init_cfg = None
    return cfg


def test_config_list():
    assert len(CONFIGS) == 14, CONFIGS


@pytest.mark.parametrize('name', CONFIGS)
def test_loss_and_predict(name):
    cfg = _config(name)
    size = SIZES[config_task(cfg)]
    model, losses, _ = run_loss_and_predict(cfg, size)
    assert model.backbone.__class__.__name__ == 'DHVT'
    assert losses


def test_detection_at_800x1216():
    cfg = _config('retinanet_dhvt-tiny-p16_fpn_1x_coco.py')
    model, _, predictions = run_loss_and_predict(
        cfg, (800, 1216), batch_size=1)
    assert predictions[0].pred_instances.bboxes.shape[-1] == 4


def test_dense_outputs_match_fpn():
    cfg = _config('mask-rcnn_dhvt-tiny-p16_fpn_1x_coco.py')
    model = build_model_from_config(cfg).eval()
    with torch.no_grad():
        feats = model.backbone(torch.randn(1, 3, 64, 96))
    assert [tuple(f.shape[-2:]) for f in feats] == [(16, 24), (8, 12),
                                                    (4, 6), (2, 3)]
    assert list(cfg.model.neck.in_channels) == model.backbone.num_features


def _decay_by_name(cfg, model):
    from mmengine.optim import build_optim_wrapper
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    names = {id(p): n for n, p in model.named_parameters()}
    decay = {}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            decay[names[id(p)]] = group['weight_decay']
    return decay


@pytest.mark.parametrize('name', [
    'dhvt-tiny-p4_2xb256_cifar100.py', 'dhvt-small-p16_4xb128_in1k.py',
    'dhvt-tiny-p16_2xb128_domainnet.py',
    'mask-rcnn_dhvt-tiny-p16_fpn_1x_coco.py',
    'fpn_dhvt-tiny-p16_8xb2-80k_ade20k-512x512.py'
])
def test_weight_decay_exemptions(name):
    """As timm's ``add_weight_decay`` in the official main.py: no decay for
    1-D parameters (norms, biases) and ``cls_token``; decay for the
    head-token embeddings (official ``attn.pos_embed``) and the SOPE affine
    parameters. A '.pos_embed' custom key would have caught the former."""
    cfg = _config(name)
    cfg.model.backbone.arch = dict(
        embed_dims=32, num_layers=4, num_heads=2, patch_size=16)
    if config_task(cfg) == 'cls':
        cfg.model.head.in_channels = 32
    else:
        num_outs = len(cfg.model.neck.in_channels)
        cfg.model.backbone.out_indices = tuple(range(4 - num_outs, 4))
        cfg.model.neck.in_channels = [32] * num_outs
    model = build_model_from_config(cfg)
    decay = _decay_by_name(cfg, model)
    base = cfg.optim_wrapper.optimizer.weight_decay
    backbone = {
        n[len('backbone.'):]: d
        for n, d in decay.items() if n.startswith('backbone.')
    }
    exempt = {n for n, d in backbone.items() if d == 0}
    for n, d in backbone.items():
        assert d in (0, base), n
    for n in backbone:
        param = dict(model.backbone.named_parameters())[n]
        official_exempt = param.dim() == 1 or n.endswith(
            '.bias') or n == 'cls_token'
        assert (n in exempt) == official_exempt, n
    assert 'layers.0.attn.head_embed' not in exempt
    assert 'patch_embed.pre_affine.beta' not in exempt
    assert 'cls_token' in exempt


@pytest.mark.parametrize('name', [c for c in CONFIGS if '_in1k' in c
                                  or 'cifar' in c or 'domainnet' in c])
def test_classification_configs_evaluate_the_raw_model(name):
    """The official main.py (ArieSeirack/DHVT, commit 0e40e9f) keeps a model
    EMA but evaluates and reports the raw model; mmengine's EMAHook would
    validate, test and save the EMA instead."""
    hooks = load_config(osp.join('configs', 'dhvt', name)).get(
        'custom_hooks', [])
    assert not [h for h in hooks if h['type'] == 'EMAHook'], (
        f'{name}: the paper reports the raw model, not the EMA '
        '(configs/dhvt/README.md, "No model EMA")')
