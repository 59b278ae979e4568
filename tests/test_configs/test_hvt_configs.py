"""Every HVT config builds its full model and runs one loss step (with
backward) and one predict step on synthetic data."""
import glob
import os.path as osp

import pytest
import yaml
from helpers import (CONFIG_ROOT, REPO_ROOT, build_model_from_config,
                     config_task, count_params, load_config,
                     run_loss_and_predict)

HVT_CONFIGS = sorted(
    osp.relpath(p, REPO_ROOT)
    for p in glob.glob(osp.join(CONFIG_ROOT, 'hvt', '*.py')))
# Small inputs; 1-D HVT-S-4 needs 31 patch tokens (96x96 gives 36).
INPUT_SIZE = dict(cls=(96, 96), det=(128, 160), seg=(128, 128))


def _metafile_models():
    with open(osp.join(CONFIG_ROOT, 'hvt', 'metafile.yml')) as f:
        return yaml.safe_load(f)['Models']


def _config(path):
    cfg = load_config(path)
    backbone = cfg.model.backbone
    if backbone.get('init_cfg') is not None:
        backbone.init_cfg = None
    if config_task(cfg) == 'seg':
        # The ADE20K configs pad every batch to the 512x512 crop size.
        cfg.model.data_preprocessor.size = INPUT_SIZE['seg']
    return cfg


def test_config_list():
    names = {osp.basename(p) for p in HVT_CONFIGS}
    for v in ('ti-1', 's-0', 's-1', 's-2', 's-3', 's-4', 's-2-2d'):
        assert f'hvt-{v}_8xb128_in1k.py' in names
    for v in ('s-1', 's-2', 's-3', 's-4', 's-2-2d'):
        assert f'hvt-{v}_1xb128_cifar100.py' in names
    for v in ('s-0', 's-1', 's-2-2d'):
        assert f'retinanet_hvt-{v}_fpn_1x_coco.py' in names
        assert f'mask-rcnn_hvt-{v}_fpn_1x_coco.py' in names
        assert f'fpn_hvt-{v}_8xb2-80k_ade20k-512x512.py' in names


@pytest.mark.parametrize('path', HVT_CONFIGS)
def test_config_runs(path):
    cfg = _config(path)
    assert cfg.custom_imports == dict(
        imports=['vit_backbones'], allow_failed_imports=False)
    task = config_task(cfg)
    model, losses, _ = run_loss_and_predict(cfg, INPUT_SIZE[task])
    assert losses
    # Classification configs: the metafile's parameter count is the model's.
    if task == 'cls':
        entry = [
            m for m in _metafile_models() if m.get('Config') == path
            and m['Name'] == osp.splitext(osp.basename(path))[0]
        ]
        assert len(entry) == 1, path
        assert entry[0]['Metadata']['Parameters'] == count_params(model)


def test_detection_at_800x1216():
    """One detection config at a real COCO size (batch 1)."""
    cfg = _config('configs/hvt/retinanet_hvt-s-1_fpn_1x_coco.py')
    run_loss_and_predict(cfg, (800, 1216), batch_size=1)


def _decay_by_name(cfg_path):
    from mmengine.optim import build_optim_wrapper
    cfg = _config(cfg_path)
    model = build_model_from_config(cfg)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    names = {id(p): n for n, p in model.named_parameters()}
    decay = {}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            decay[names[id(p)]] = (group['weight_decay'], p.ndim)
    return decay, wrapper


@pytest.mark.parametrize('path,wd', [
    ('configs/hvt/hvt-s-4_8xb128_in1k.py', 0.025),
    ('configs/hvt/mask-rcnn_hvt-s-2-2d_fpn_1x_coco.py', 0.05),
])
def test_weight_decay_exemptions(path, wd):
    """timm's rule: no decay for 1-D parameters and for every parameter
    whose name contains 'pos_embed' (the patch and every stage embedding);
    '.pos_embed' is a substring key and must catch them all."""
    decay, _ = _decay_by_name(path)
    pos = [n for n in decay if 'pos_embed' in n]
    assert 'backbone.pos_embed' in pos
    assert any('backbone.pools.' in n for n in pos)
    for name, (value, ndim) in decay.items():
        expected = 0. if ('pos_embed' in name or ndim <= 1) else wd
        assert value == pytest.approx(expected), name


def test_classification_recipe():
    cfg = load_config('configs/hvt/hvt-s-1_8xb128_in1k.py')
    optimizer = cfg.optim_wrapper.optimizer
    assert optimizer.type == 'AdamW'
    assert optimizer.lr == pytest.approx(1e-3)  # 5e-4 x 1024 / 512
    assert optimizer.weight_decay == 0.025
    assert cfg.auto_scale_lr.base_batch_size == 1024
    assert cfg.train_dataloader.batch_size == 128
    assert cfg.train_dataloader.sampler.type == 'RepeatAugSampler'
    assert cfg.train_cfg.max_epochs == 300
    warmup, cosine = cfg.param_scheduler
    assert warmup.end == 5 and warmup.start_factor * optimizer.lr == \
        pytest.approx(1e-6)
    assert cosine.eta_min == 1e-5 and cosine.end == 300
    augments = [a.type for a in cfg.model.train_cfg.augments]
    assert augments == ['Mixup', 'CutMix']
    assert cfg.model.head.loss.label_smooth_val == 0.1
    assert cfg.model.backbone.drop_path_rate == 0.1
    assert cfg.get('optim_wrapper').get('clip_grad') is None

    cifar = load_config('configs/hvt/hvt-s-3_1xb128_cifar100.py')
    assert cifar.optim_wrapper.optimizer.lr == pytest.approx(1.25e-4)
    assert cifar.auto_scale_lr.base_batch_size == 128
    assert cifar.train_dataloader.batch_size == 128
    assert cifar.model.head.num_classes == 100
    assert cifar.train_dataloader.dataset.type == 'CIFAR100'
    # 224 input through the DeiT pipeline, ImageNet statistics.
    assert cifar.train_pipeline[0].scale == 224
    assert cifar.data_preprocessor.mean == [123.675, 116.28, 103.53]


def test_segmentation_recipe():
    cfg = load_config('configs/hvt/fpn_hvt-s-1_8xb2-80k_ade20k-512x512.py')
    assert cfg.model.pretrained is None
    (poly, ) = cfg.param_scheduler
    assert poly.type == 'PolyLR' and poly.eta_min == 0 and poly.end == 80000
    assert cfg.model.neck.in_channels == [384] * 4
    assert cfg.model.backbone.type == 'mmpretrain.HVT'
    assert cfg.model.backbone.init_cfg.prefix == 'backbone.'


def test_metafile():
    models = _metafile_models()
    names = [m['Name'] for m in models]
    assert len(names) == len(set(names))
    for m in models:
        assert osp.exists(osp.join(REPO_ROOT, m['Config'])), m['Config']
        assert isinstance(m['Metadata']['FLOPs'], int)
        assert isinstance(m['Metadata']['Parameters'], int)
    converted = [m for m in models if '3rdparty' in m['Name']]
    assert {m['Name'] for m in converted} == {
        f'hvt-{v}_3rdparty_in1k'
        for v in ('ti-1', 's-0', 's-1', 's-2', 's-3', 's-4')
    }
    for m in converted:
        # get_model(name, pretrained=True) converts the official file.
        assert m['Weights'] == m['Converted From']['Weights']
