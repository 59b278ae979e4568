"""Deployment: tensor-mode models, ONNX round trips of whole models and the
``tools/deployment/pytorch2onnx.py`` tool, run as a user runs it.

The backbones' own export tests (every network, dense and classification
layouts) are in the contract suite
(``tests/test_models/test_backbones/test_contract.py``).
"""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
from helpers import REPO_ROOT, randomize
import mmpretrain.models  # noqa: F401 (registers ImageClassifier & co.)
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS

from vit_backbones.deploy import (ExportableGroupNorm, IntegerScaleUpsample,
                                  TensorModeModel, export_onnx,
                                  export_program, exportable_modules,
                                  onnxruntime_max_diff, size_range)

TINY_DET = osp.join(REPO_ROOT, 'tests/data/configs/tiny_retinanet_hat_net.py')
TINY_SEG = osp.join(REPO_ROOT, 'tests/data/configs/tiny_fpn_dhvt.py')


def tiny_classifier():
    # Another test of the same worker may have left mmdet/mmseg as the
    # default scope, which would look ImageClassifier up there.
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return _build_tiny_classifier()


def _build_tiny_classifier():
    return MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(
                type='HATNet',
                arch=dict(
                    embed_dims=[16, 32, 48, 64],
                    depths=[1, 1, 1, 1],
                    head_dim=16,
                    mlp_ratios=[2, 2, 2, 2],
                    kernel_sizes=[3, 3, 3, 3]),
                out_type='avg_featmap'),
            head=dict(
                type='LinearClsHead',
                num_classes=5,
                in_channels=64,
                loss=dict(type='CrossEntropyLoss'))))


def test_classifier_onnx_round_trip(tmp_path):
    """An mmpretrain classifier in tensor mode (logits) exports to one ONNX
    file that onnxruntime runs at two other sizes."""
    model = TensorModeModel(randomize(tiny_classifier()).eval())
    path = export_onnx(model, torch.rand(1, 3, 97, 131),
                       str(tmp_path / 'classifier.onnx'))
    with torch.no_grad():
        logits, = model(torch.rand(1, 3, 64, 64))
    assert logits.shape == (1, 5)
    diff = onnxruntime_max_diff(
        path, model, [torch.rand(1, 3, 64, 64),
                      torch.rand(1, 3, 224, 160)])
    assert diff <= 1e-4


def test_tensor_mode_parts_and_errors():
    classifier = tiny_classifier().eval()
    backbone = TensorModeModel(classifier, 'backbone')
    with torch.no_grad():
        feats = backbone(torch.rand(1, 3, 64, 64))
    assert [tuple(f.shape) for f in feats] == [(1, 64)]
    with pytest.raises(ValueError, match="'backbone' or 'model'"):
        TensorModeModel(classifier, 'neck')
    with pytest.raises(ValueError, match='has no backbone'):
        TensorModeModel(nn.Linear(2, 2), 'backbone')


def test_size_range_and_bad_example():
    model = tiny_classifier().eval()
    assert size_range(model) == ((64, 64), (2048, 2048))
    assert size_range(model, 40, 512) == ((40, 40), (512, 512))
    with pytest.raises(ValueError, match='at least 32x32'):
        size_range(model, 16)
    with pytest.raises(ValueError, match='must lie in the exported range'):
        export_program(model, torch.rand(1, 3, 48, 300))


@pytest.mark.parametrize('mode,align_corners', [('nearest', None),
                                                ('bilinear', False)])
def test_integer_scale_upsample_matches_scale_factor(mode, align_corners):
    """The exportable up-sampling gives what the module it replaces gives,
    and the replacement is undone after the export."""
    from mmseg.models.utils import Upsample
    model = nn.Sequential(
        nn.Identity(),
        Upsample(scale_factor=2, mode=mode, align_corners=align_corners))
    x = torch.rand(1, 3, 7, 5)
    expected = model(x)
    with exportable_modules(model):
        assert isinstance(model[1], IntegerScaleUpsample)
        torch.testing.assert_close(model(x), expected, rtol=0, atol=0)
    assert isinstance(model[1], Upsample)


def _run_tool(args, cwd):
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1')
    return subprocess.run(
        [sys.executable,
         osp.join(REPO_ROOT, 'tools/deployment/pytorch2onnx.py'), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize('config', [TINY_DET, TINY_SEG],
                         ids=['retinanet', 'semantic-fpn'])
def test_pytorch2onnx_exports_and_checks_a_model(config, tmp_path):
    """The tool exports a detector and a segmentor in tensor mode with
    dynamic sizes, checks onnxruntime at two sizes and reports it."""
    out = tmp_path / 'model.onnx'
    proc = _run_tool([config, '--shape', '96', '128', '--dynamic', '--out',
                      str(out)], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert out.is_file() and out.stat().st_size > 0
    assert 'height 64..2048, width 64..2048' in proc.stdout
    assert 'onnxruntime vs PyTorch at 96x128, 79x173: max abs diff' \
        in proc.stdout
    assert [p.name for p in tmp_path.iterdir()] == ['model.onnx']


def test_pytorch2onnx_removes_a_file_that_fails_the_check(tmp_path):
    """With no tolerance at all, the float32 differences of onnxruntime fail
    the check: exit status 1, and no file is left behind."""
    proc = _run_tool([TINY_SEG, '--shape', '96', '--atol', '0', '--rtol',
                      '0', '--out', 'model.onnx'], cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert 'FAILED: the difference exceeds 0' in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_pytorch2onnx_refuses_bad_arguments(tmp_path):
    proc = _run_tool([TINY_SEG, '--shape', '96', '--check-shape', '80'],
                     cwd=tmp_path)
    assert proc.returncode != 0
    assert '--check-shape needs --dynamic' in proc.stderr
    proc = _run_tool([TINY_SEG, '--shape', '1', '2', '3'], cwd=tmp_path)
    assert proc.returncode != 0 and 'takes H W or one size' in proc.stderr
    proc = _run_tool([TINY_SEG, '--atol', '-1'], cwd=tmp_path)
    assert proc.returncode != 0 and 'must not be negative' in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_exportable_group_norm_is_accurate_in_onnxruntime(tmp_path):
    """GroupNorm over a large map: the exported statistics stay as accurate
    as PyTorch's in onnxruntime (its own reduction is off by ~3e-4 at
    this size), and the swap is undone after the export."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.GroupNorm(1, 8, eps=1e-6), nn.GroupNorm(2, 8))
    for norm in model:
        with torch.no_grad():
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-1, 1)
    x = torch.randn(1, 8, 37, 29) * 2 + 3
    expected = model(x)
    with exportable_modules(model):
        assert all(isinstance(m, ExportableGroupNorm) for m in model)
        torch.testing.assert_close(model(x), expected)
    assert all(isinstance(m, nn.GroupNorm) for m in model)
    path = export_onnx(model, x, str(tmp_path / 'gn.onnx'), min_size=8)
    big = torch.randn(1, 8, 600, 1000) * 2 + 3
    assert onnxruntime_max_diff(path, model, [big]) <= 2e-5
