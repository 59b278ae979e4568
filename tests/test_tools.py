"""The OpenMMLab tools of this repository, run as a user runs them."""
import os
import os.path as osp
import subprocess
import sys

import pytest

from helpers import REPO_ROOT
from vit_backbones.demo_data import make_demo_data
from vit_backbones.safe_load import load_checkpoint_file

TINY_CLS = osp.join(REPO_ROOT, 'tests/data/configs/tiny_cls.py')
SMALL_SIZES = dict(cls=dict(train=8, val=4, image=32))


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo')
    make_demo_data(str(root), seed=1, tasks=('cls', ), sizes=SMALL_SIZES)
    return root


def _data_options(root):
    cls_root = osp.join(root, 'cls')
    return [
        f'{loader}.dataset.data_root={cls_root}'
        for loader in ('train_dataloader', 'val_dataloader',
                       'test_dataloader')
    ]


def _run(args, cwd=REPO_ROOT, timeout=600):
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1')
    proc = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True,
        timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.fixture(scope='module')
def trained(demo_root, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('work')
    out = _run([
        sys.executable, 'tools/train.py', TINY_CLS, '--work-dir',
        str(work_dir), '--cfg-options', *_data_options(demo_root)
    ])
    assert 'Epoch(train)' in out
    return work_dir


def test_train_writes_checkpoint(trained):
    assert osp.isfile(osp.join(trained, 'epoch_2.pth'))
    # A real training checkpoint loads with the safe unpickler.
    ckpt = load_checkpoint_file(osp.join(trained, 'epoch_2.pth'))
    assert any(k.startswith('backbone.') for k in ckpt['state_dict'])


def test_test_evaluates_checkpoint(trained, demo_root):
    out = _run([
        sys.executable, 'tools/test.py', TINY_CLS,
        osp.join(trained, 'epoch_2.pth'), '--work-dir',
        str(trained), '--show-dir', 'vis', '--cfg-options',
        *_data_options(demo_root)
    ])
    assert 'accuracy/top1' in out
    # 16 pictures and the contact sheet
    assert len(os.listdir(osp.join(trained, 'vis'))) == 17


def test_distributed_train_on_two_processes(demo_root, tmp_path):
    """torchrun with 2 processes (gloo on CPU), the many-GPU path."""
    env_python = f'PYTHON={sys.executable}'
    out = _run([
        'bash', '-c',
        f'{env_python} PORT=29517 bash tools/dist_train.sh {TINY_CLS} 2 '
        f'--work-dir {tmp_path} --cfg-options ' +
        ' '.join(_data_options(demo_root))
    ])
    assert 'Distributed training: True' in out
    assert osp.isfile(osp.join(tmp_path, 'epoch_2.pth'))
    # Both ranks reached the end: torchrun exits non-zero otherwise, and
    # each rank iterated over its half of the 32 training images.
    assert 'Epoch(train) [2][2/2]' in out


def test_missing_data_root_names_the_generator(tmp_path):
    env = dict(os.environ)
    proc = subprocess.run([
        sys.executable, 'tools/train.py', TINY_CLS, '--work-dir',
        str(tmp_path), '--cfg-options',
        'train_dataloader.dataset.data_root=data/demo-missing/cls'
    ], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert 'make_demo_data.py --root data/demo-missing' in proc.stderr


def test_get_flops_and_print_config():
    out = _run([sys.executable, 'tools/analysis_tools/get_flops.py',
                TINY_CLS, '--shape', '32'])
    assert 'Params:' in out and 'attention matmuls left out' in out
    out = _run([sys.executable, 'tools/misc/print_config.py', TINY_CLS])
    assert "type='ImageClassifier'" in out
