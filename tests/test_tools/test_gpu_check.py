"""tools/analysis_tools/gpu_check.py, as far as a CPU runs it: one training
iteration of a dense config through the toolboxes' runner, the skipped
official comparison without checkouts, and the error without CUDA."""
import os.path as osp

import pytest
import torch
from helpers import REPO_ROOT, load_tool

from vit_backbones.tools.demo_data import make_demo_data


def _tool():
    return load_tool('tools/analysis_tools/gpu_check.py')


def test_every_train_config_exists():
    for config in _tool().TRAIN_CONFIGS:
        assert osp.isfile(osp.join(REPO_ROOT, config)), config


def test_one_training_iteration_updates_the_backbone(tmp_path):
    """Semantic FPN with ViL-Tiny (the cheapest on CPU; the GPU check runs
    every demo RetinaNet and Semantic FPN config)."""
    config = 'configs/demo/fpn_vil-tiny_1xb8_shapes-128x128.py'
    data = tmp_path / 'data'
    make_demo_data(str(data), tasks=('det', 'seg'),
                   sizes=dict(det=dict(train=2, val=1, image=64),
                              seg=dict(train=2, val=1, image=64)))
    result = _tool().train_one_iteration(
        osp.join(REPO_ROOT, config), str(data), str(tmp_path / 'work'))
    assert result['device'] == 'cpu'
    assert result['updated']
    assert result['losses'] and all(
        torch.isfinite(torch.tensor(v)) for v in result['losses'].values())


def test_official_comparison_is_skipped_without_checkouts(capsys):
    assert _tool().main(['--device', 'cpu', '--only', 'official']) == 0
    out = capsys.readouterr().out
    for net in ('hat_net', 'vil', 'hvt', 'dhvt'):
        assert f'| official {net} | skipped (no checkout' in out


@pytest.mark.skipif(torch.cuda.is_available(), reason='a CUDA device')
def test_cuda_without_a_device_is_a_clear_error():
    with pytest.raises(SystemExit, match='sees no CUDA device'):
        _tool().main(['--only', 'tests'])
