"""The demo configs: every one builds and steps, and one per task trains and
evaluates through the command-line tools on a small copy of the demo data."""
import glob
import os
import os.path as osp
import re
import subprocess
import sys

import mmcv
import pytest
import torch
from helpers import (REPO_ROOT, load_config, run_loss_and_predict,
                     short_run_options)
from mmengine.optim import build_optim_wrapper

from vit_backbones.tools.demo_data import make_demo_data

DEMO_CONFIGS = sorted(glob.glob(osp.join(REPO_ROOT, 'configs/demo/*.py')))
SMALL = dict(
    cls=dict(train=4, val=2, image=64),
    det=dict(train=4, val=2, image=128),
    seg=dict(train=4, val=2, image=128))


def _task(path):
    name = osp.basename(path)
    if name.startswith(('retinanet_', 'mask-rcnn_')):
        return 'det'
    return 'seg' if name.startswith('fpn_') else 'cls'


def test_every_backbone_has_a_demo_per_task():
    nets = ('hat-net', 'vil', 'hvt', 'dhvt')
    names = [osp.basename(p) for p in DEMO_CONFIGS]
    for net in nets:
        mine = [n for n in names if re.search(rf'(^|_){net}-', n)]
        kinds = sorted(
            n.split('_')[0] if _task(n) != 'cls' else 'cls' for n in mine)
        assert kinds == ['cls', 'fpn', 'mask-rcnn', 'retinanet'], (net, mine)


@pytest.mark.parametrize(
    'path', DEMO_CONFIGS, ids=[osp.basename(p) for p in DEMO_CONFIGS])
def test_demo_config_steps(path):
    cfg = load_config(path)
    assert cfg.custom_imports.imports == ['vit_backbones']
    size = (64, 64) if _task(path) == 'cls' else (128, 128)
    model, _, _ = run_loss_and_predict(cfg, size)
    # The optimizer step too: the demo runs on CPU, so the config's
    # optim wrapper must be one that works there (not AmpOptimWrapper).
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert type(optim_wrapper).__name__ == 'OptimWrapper'
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optim_wrapper.step()
    assert any(not torch.equal(p, before[n])
               for n, p in model.named_parameters())


@pytest.fixture(scope='module')
def small_demo(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('demo'))
    make_demo_data(root, seed=5, sizes=SMALL)
    return root


def _run(args):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.mark.parametrize('config,metric', [
    ('configs/demo/hvt-ti-1_1xb32_shapes.py', 'accuracy/top1'),
    ('configs/demo/mask-rcnn_hat-net-tiny_fpn_shapes.py', 'coco/segm_mAP_50'),
    ('configs/demo/fpn_dhvt-tiny-p16_1xb8_shapes-128x128.py', 'mIoU'),
])
def test_demo_trains_and_evaluates_through_the_cli(config, metric,
                                                   small_demo, tmp_path):
    task = _task(config)
    options = short_run_options(task, small_demo)
    out = _run([sys.executable, 'tools/train.py', config, '--work-dir',
                str(tmp_path), '--cfg-options', *options])
    assert metric in out
    with open(osp.join(tmp_path, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    out = _run([
        sys.executable, 'tools/test.py', config, checkpoint, '--work-dir',
        str(tmp_path), '--show-dir',
        str(tmp_path / 'vis'), '--cfg-options', *options
    ])
    assert metric in out
    pictures = sorted(os.listdir(tmp_path / 'vis'))
    num_images = SMALL[task]['val'] * (4 if task == 'cls' else 1)
    assert len(pictures) == num_images + 1 and 'contact_sheet.png' in pictures
    # Small images are enlarged (to a short side of 256, 512 for detection
    # and segmentation) before drawing; detection and segmentation draw the
    # ground truth beside the prediction.
    height = 256 if task == 'cls' else 512
    width = 256 if task == 'cls' else 1024
    for name in pictures:
        shape = mmcv.imread(str(tmp_path / 'vis' / name)).shape
        if name != 'contact_sheet.png':
            assert shape == (height, width, 3), name
    # The sheet's cells are 256 pixels high, plus a 6-pixel frame.
    columns = min(4, num_images)
    rows = -(-num_images // columns)
    cell_width = width * 256 // height
    assert mmcv.imread(str(tmp_path / 'vis' / 'contact_sheet.png')).shape \
        == (rows * (256 + 12), columns * (cell_width + 12), 3)
    # The report: training curves and the result against the chance level.
    out = _run([
        sys.executable, 'tools/analysis_tools/demo_report.py', config,
        str(tmp_path), '--pictures',
        str(tmp_path / 'vis'), '--wall-seconds', '61', '--cfg-options',
        *options
    ])
    chance = dict(cls='25.0 %', det='0.000', seg='%')[task]
    assert f'{metric} = ' in out and '(chance level: ' in out
    assert chance in out and 'wall time: 1 min 01 s' in out
    assert 'contact_sheet.png' in out
    curves = mmcv.imread(str(tmp_path / 'training_curves.png'))
    assert curves.shape == (400, 1100, 3)
