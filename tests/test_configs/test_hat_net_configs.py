"""Every HAT-Net config builds its full model and runs one loss step and one
predict step; the recipes are the paper's."""
import copy
import functools
import glob
import os.path as osp

import pytest
import torch
from helpers import (CONFIG_ROOT, build_model_from_config, config_task,
                     load_config, run_loss_and_predict)
from mmengine.runner import save_checkpoint

from vit_backbones.models.backbones.hat_net import HATNet

CONFIGS = sorted(
    osp.relpath(p, osp.dirname(CONFIG_ROOT))
    for p in glob.glob(osp.join(CONFIG_ROOT, 'hat_net', '*.py')))
VARIANTS = ('tiny', 'small', 'medium', 'large')
CHANNELS = dict(
    tiny=[48, 96, 240, 384],
    small=[64, 128, 320, 512],
    medium=[64, 128, 320, 512],
    large=[64, 128, 320, 640])
SMALL_INPUT = dict(cls=(64, 64), det=(96, 128), seg=(64, 96))


@functools.lru_cache(maxsize=None)
def _load(path):
    return load_config(path)


def get_config(path):
    """A fresh copy of the config (loading the mmdet/mmseg bases is slow,
    so each file is read once)."""
    return copy.deepcopy(_load(path))


def variant(path):
    return next(v for v in VARIANTS if f'hat-net-{v}' in path)


def test_config_set():
    names = {osp.basename(p) for p in CONFIGS}
    for v in VARIANTS:
        assert {
            f'hat-net-{v}_8xb128_in1k.py',
            f'retinanet_hat-net-{v}_fpn_1x_coco.py',
            f'mask-rcnn_hat-net-{v}_fpn_1x_coco.py',
            f'fpn_hat-net-{v}_8xb2-80k_ade20k-512x512.py',
        } <= names
    assert len(CONFIGS) == 16


@pytest.mark.parametrize('path', CONFIGS)
def test_config_settings(path):
    cfg = get_config(path)
    # Directly or through a base (the det/seg configs' shared backbone).
    assert cfg.custom_imports == dict(
        imports=['vit_backbones'], allow_failed_imports=False)
    task = config_task(cfg)
    backbone = cfg.model.backbone
    v = variant(path)
    assert backbone.arch == v
    # PVT's recipes (whai362/PVT classification/configs/pvt/pvt_*.py):
    # drop path 0.3 and clip_grad 1.0 for Medium and Large on ImageNet,
    # 0.1 and no clipping for Tiny and Small and for the dense tasks.
    big_cls = task == 'cls' and v in ('medium', 'large')
    assert backbone.drop_path_rate == (0.3 if big_cls else 0.1), path
    if task == 'cls':
        assert cfg.optim_wrapper.get('clip_grad') == (
            dict(max_norm=1.0, norm_type=2) if big_cls else None), path
        assert backbone.type == 'HATNet'
        assert backbone.grid_sizes == (8, 7, 7, 1)
        assert backbone.ds_ratios == (8, 4, 2, 1)
        assert backbone.out_indices == (3, )
        assert cfg.model.head.in_channels == CHANNELS[v][-1]
        assert cfg.model.head.dropout_rate == 0.2
        assert cfg.model.head.loss.label_smooth_val == 0.1
        assert [a.type
                for a in cfg.model.train_cfg.augments] == ['Mixup', 'CutMix']
        assert cfg.train_dataloader.batch_size == 128
        assert cfg.auto_scale_lr.base_batch_size == 1024
        opt = cfg.optim_wrapper.optimizer
        assert (opt.type, opt.lr, opt.weight_decay) == ('AdamW', 1e-3, 0.05)
        assert cfg.optim_wrapper.paramwise_cfg == dict(
            norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0)
        warmup, cosine = cfg.param_scheduler
        assert (warmup.type, warmup.end, warmup.start_factor) == ('LinearLR',
                                                                  5, 1e-3)
        assert (cosine.type, cosine.begin, cosine.end,
                cosine.eta_min) == ('CosineAnnealingLR', 5, 300, 1e-5)
        assert cfg.train_cfg.max_epochs == 300
        return
    assert backbone.type == 'mmpretrain.HATNet'
    assert backbone.grid_sizes == (8, 8, 8, 1)
    assert backbone.ds_ratios == (16, 8, 4, 1)
    assert backbone.init_cfg.type == 'Pretrained'
    assert backbone.init_cfg.prefix == 'backbone.'
    # The official release of the variant, converted while it loads.
    assert backbone.init_cfg.checkpoint == (
        'https://github.com/yun-liu/HAT-Net/releases/download/v2.0/'
        f'HAT-Net_{v.capitalize()}.pth')
    channels = [CHANNELS[v][i] for i in backbone.out_indices]
    assert cfg.model.neck.in_channels == channels
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.weight_decay) == ('AdamW', 1e-4, 1e-4)
    assert 'paramwise_cfg' not in cfg.optim_wrapper
    if task == 'det':
        assert cfg.train_dataloader.batch_size == 2
        assert cfg.train_cfg.max_epochs == 12
        step = cfg.param_scheduler[-1]
        assert (step.type, step.milestones) == ('MultiStepLR', [8, 11])
        if 'retinanet' in path:
            assert backbone.out_indices == (1, 2, 3)
            assert cfg.model.neck.start_level == 0
            assert cfg.model.neck.add_extra_convs == 'on_input'
        else:
            assert backbone.out_indices == (0, 1, 2, 3)
    else:
        assert cfg.model.pretrained is None
        assert cfg.train_dataloader.batch_size == 2
        assert cfg.model.data_preprocessor.size == (512, 512)
        assert cfg.train_cfg.max_iters == 80000
        poly, = cfg.param_scheduler
        assert (poly.type, poly.eta_min, poly.power,
                poly.end) == ('PolyLR', 0.0, 0.9, 80000)
        assert cfg.model.decode_head.num_classes == 150


def test_classification_weight_decay():
    """No decay on biases and GroupNorm weights (timm's create_optimizer of
    the official DeiT/PVT training), 0.05 on conv and linear weights."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    cfg = get_config('configs/hat_net/hat-net-tiny_8xb128_in1k.py')
    cfg.model.backbone.arch = dict(
        HATNet.arch_zoo['tiny'], depths=[1, 1, 1, 1])
    init_default_scope('mmpretrain')
    model = build_model_from_config(cfg)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    decay = {}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            decay[id(p)] = group['weight_decay']
    for name, p in model.named_parameters():
        if not p.requires_grad:  # the unused proj_norm
            assert 'proj_norm' in name and id(p) not in decay, name
            continue
        expected = 0.05 if p.dim() > 1 else 0.
        assert decay[id(p)] == expected, name


def shrink_for_speed(cfg):
    """Test-only settings that keep the CPU run short without touching the
    backbone: fewer proposals and sampled RoIs in the two-stage heads, and
    no padding of the tiny segmentation input up to the 512x512 crop."""
    task = config_task(cfg)
    if task == 'seg':
        cfg.model.data_preprocessor.size = SMALL_INPUT['seg']
    if task == 'det' and 'rpn' in cfg.model.train_cfg:
        cfg.model.train_cfg.rpn_proposal.update(nms_pre=200, max_per_img=100)
        cfg.model.train_cfg.rcnn.sampler.num = 64
        cfg.model.test_cfg.rpn.update(nms_pre=200, max_per_img=100)
        cfg.model.test_cfg.rcnn.max_per_img = 10
    if task == 'det' and 'rpn' not in cfg.model.train_cfg:
        cfg.model.test_cfg.update(nms_pre=200, max_per_img=10)
    return cfg


@pytest.mark.parametrize('path', CONFIGS)
def test_config_loss_and_predict(path):
    cfg = get_config(path)
    if config_task(cfg) != 'cls':
        cfg.model.backbone.init_cfg = None
    shrink_for_speed(cfg)
    model, losses, _ = run_loss_and_predict(
        cfg, SMALL_INPUT[config_task(cfg)], batch_size=2)
    assert isinstance(model.backbone, HATNet)
    assert model.backbone.arch_zoo[variant(path)]['depths'] == list(
        model.backbone.depths)
    # every trainable parameter gets a gradient, so DDP runs without
    # find_unused_parameters
    unused = [
        n for n, p in model.named_parameters()
        if p.requires_grad and p.grad is None
    ]
    assert not unused


def test_detection_at_coco_size_with_classification_weights(tmp_path):
    """RetinaNet-Tiny on an 800x1216 image (stage maps 100x152, 50x76 that
    the official code cannot tile), initialised from a classification
    checkpoint through init_cfg=Pretrained(prefix='backbone.')."""
    cls_cfg = get_config('configs/hat_net/hat-net-tiny_8xb128_in1k.py')
    classifier = build_model_from_config(cls_cfg)
    with torch.no_grad():
        for p in classifier.parameters():
            p.add_(0.01)
    ckpt = str(tmp_path / 'hat-net-tiny_3rdparty_in1k.pth')
    save_checkpoint(classifier.state_dict(), ckpt)

    cfg = get_config('configs/hat_net/retinanet_hat-net-tiny_fpn_1x_coco.py')
    cfg.model.backbone.init_cfg.checkpoint = ckpt
    detector = build_model_from_config(cfg)  # runs init_weights
    loaded = detector.backbone.state_dict()
    for key, value in classifier.backbone.state_dict().items():
        assert torch.equal(loaded[key], value), key
    _, losses, predictions = run_loss_and_predict(
        cfg, (800, 1216), batch_size=1, model=detector)
    assert predictions[0].pred_instances.bboxes.shape[-1] == 4
