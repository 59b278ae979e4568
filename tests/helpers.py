"""Test helpers shared by the test modules (imported as ``helpers``)."""
import os.path as osp

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.utils.dl_utils.parrots_wrapper import _BatchNorm

from vit_backbones.tools.demo_data import demo_data_options  # noqa: F401
from vit_backbones.tools.recipes import config_task  # noqa: F401

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_ROOT = osp.join(REPO_ROOT, 'configs')
DATA_ROOT = osp.join(REPO_ROOT, 'tests', 'data')


def check_norm_state(modules, train_state):
    """True when every BatchNorm in ``modules`` has ``training ==
    train_state`` (mmpretrain's test helper)."""
    for mod in modules:
        if isinstance(mod, _BatchNorm) and mod.training != train_state:
            return False
    return True


def short_run_options(task, root):
    """``--cfg-options`` that run a demo config on demo data written by
    ``make_demo_data(root)`` as briefly as the tools allow: one epoch (two
    iterations for segmentation), batch 2, no worker processes."""
    options = demo_data_options(task, root)
    if task == 'seg':
        options += ['train_cfg.max_iters=2', 'train_cfg.val_interval=2',
                    'default_hooks.checkpoint.interval=2']
    else:
        options += ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
                    'default_hooks.checkpoint.interval=1']
    return options + ['train_dataloader.batch_size=2',
                      'train_dataloader.num_workers=0',
                      'val_dataloader.num_workers=0',
                      'test_dataloader.num_workers=0']


def randomize(model, seed=0):
    """Non-trivial weights: norms and biases away from 1/0, so that every
    path of a network matters in a comparison."""
    import math
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if p.dim() == 1:
                p.copy_(noise * 0.2 + (1. if name.endswith('weight') else 0.))
            else:
                p.copy_(noise / math.sqrt(p[0].numel()))
    return model


def count_params(module):
    return sum(p.numel() for p in module.parameters())


def load_config(path, **cfg_options):
    cfg = Config.fromfile(
        path if osp.isabs(path) else osp.join(REPO_ROOT, path))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def build_model_from_config(cfg):
    """Build ``cfg.model`` in the config's scope, on CPU, without SyncBN."""
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import MODELS
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model_cfg = cfg.model
    if cfg.get('data_preprocessor') is not None:
        # What mmengine's Runner does: mmpretrain configs keep the data
        # preprocessor (num_classes, mean/std) at the top level.
        model_cfg = model_cfg.copy()
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    model = revert_sync_batchnorm(model)
    model.init_weights()
    return model


def _det_sample(h, w, num_classes, with_mask, rng):
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    sample = DetDataSample()
    sample.set_metainfo(
        dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
             scale_factor=(1., 1.), batch_input_shape=(h, w)))
    boxes = []
    for _ in range(2):
        x1, y1 = rng.randint(0, w // 2), rng.randint(0, h // 2)
        bw, bh = rng.randint(w // 8, w // 2), rng.randint(h // 8, h // 2)
        boxes.append([x1, y1, min(w - 1, x1 + bw), min(h - 1, y1 + bh)])
    gt = InstanceData()
    gt.bboxes = torch.tensor(boxes, dtype=torch.float32)
    gt.labels = torch.tensor(rng.randint(0, num_classes, size=2))
    if with_mask:
        masks = np.zeros((2, h, w), dtype=np.uint8)
        for i, (x1, y1, x2, y2) in enumerate(boxes):
            masks[i, y1:y2, x1:x2] = 1
        gt.masks = BitmapMasks(masks, h, w)
    sample.gt_instances = gt
    return sample


def _seg_sample(h, w, num_classes, rng):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    sample = SegDataSample()
    sample.set_metainfo(
        dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
             padding_size=[0, 0, 0, 0], scale_factor=(1., 1.),
             flip=False, flip_direction=None))
    label = torch.from_numpy(rng.randint(0, num_classes, size=(1, h, w)))
    sample.gt_sem_seg = PixelData(data=label)
    return sample


def _cls_sample(num_classes, rng):
    from mmpretrain.structures import DataSample
    return DataSample().set_gt_label(int(rng.randint(0, num_classes)))


def synthetic_batch(cfg, model, input_size, batch_size=2, seed=0):
    """A raw batch (uint8 images and data samples) for ``cfg``'s task."""
    rng = np.random.RandomState(seed)
    h, w = input_size
    task = config_task(cfg)
    inputs = [
        torch.from_numpy(rng.randint(0, 256, size=(3, h, w)).astype(np.uint8))
        for _ in range(batch_size)
    ]
    if task == 'cls':
        num_classes = model.head.num_classes
        samples = [_cls_sample(num_classes, rng) for _ in range(batch_size)]
    elif task == 'det':
        head = getattr(model, 'bbox_head', None)
        if head is None:
            head = model.roi_head.bbox_head
        with_mask = getattr(model, 'with_mask', False) or hasattr(
            getattr(model, 'roi_head', None), 'mask_head')
        samples = [
            _det_sample(h, w, head.num_classes, with_mask, rng)
            for _ in range(batch_size)
        ]
    else:
        num_classes = model.decode_head.num_classes
        samples = [_seg_sample(h, w, num_classes, rng)
                   for _ in range(batch_size)]
    return dict(inputs=inputs, data_samples=samples)


def run_loss_and_predict(cfg, input_size, batch_size=2, model=None):
    """Build ``cfg.model``, run one loss step with backward and one predict
    step on a synthetic batch; return ``(model, losses, predictions)``."""
    if model is None:
        model = build_model_from_config(cfg)
    model.train()
    data = model.data_preprocessor(
        synthetic_batch(cfg, model, input_size, batch_size), training=True)
    losses = model(**data, mode='loss')
    parsed, _ = model.parse_losses(losses)
    assert torch.isfinite(parsed), losses
    parsed.backward()
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(
            synthetic_batch(cfg, model, input_size, batch_size),
            training=False)
        predictions = model(**data, mode='predict')
    assert len(predictions) == batch_size
    return model, losses, predictions


def load_tool(path):
    """Import a script of ``tools/`` (not a package) by its path below the
    repository root, e.g. ``'tools/analysis_tools/gpu_check.py'``."""
    import importlib.util
    name = osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(
        name, osp.join(REPO_ROOT, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
