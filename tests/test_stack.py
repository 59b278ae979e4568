"""The mm* stack this package runs on imports and cooperates."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from helpers import REPO_ROOT


def test_stack_imports():
    """Whichever stack is installed (original or onedl-* forks): the
    toolboxes import and mmcv has its compiled ops."""
    import mmcv.ops
    import mmdet.models  # noqa: F401
    import mmpretrain.models  # noqa: F401
    import mmseg.models  # noqa: F401
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.],
                          [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    dets, keep = mmcv.ops.nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2]


def test_package_registers_into_mmpretrain():
    import vit_backbones  # noqa: F401
    from mmpretrain.registry import OPTIM_WRAPPER_CONSTRUCTORS
    assert OPTIM_WRAPPER_CONSTRUCTORS.get(
        'BackboneLayerDecayOptimWrapperConstructor') is not None


@pytest.mark.parametrize('base', [
    'mmpretrain::_base_/default_runtime.py',
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    'mmseg::_base_/models/fpn_r50.py',
])
def test_package_scoped_bases_load(tmp_path, base):
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text(
        f"_base_ = ['{base}']\n"
        "custom_imports = dict(imports=['vit_backbones'], "
        "allow_failed_imports=False)\n")
    cfg = Config.fromfile(str(cfg_file))
    assert cfg.custom_imports.imports == ['vit_backbones']


def test_demo_cls_config_loads():
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs/demo/hat-net-tiny_1xb32_shapes.py'))
    assert cfg.default_scope == 'mmpretrain'
    assert cfg.model.head.num_classes == 4
    assert cfg.train_dataloader.dataset.type == 'CustomDataset'
    assert '_delete_' not in str(cfg.train_dataloader)
