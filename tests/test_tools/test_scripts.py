"""The OpenMMLab tools of this repository, run as a user runs them."""
import json
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
from helpers import REPO_ROOT

from vit_backbones.checkpoint.files import load_checkpoint_file
from vit_backbones.tools.demo_data import make_demo_data

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
    # train.py freed the process group before returning (a gloo group alive
    # at interpreter shutdown can abort a rank; see close_process_group).
    assert 'still referenced' not in out


# Run in a process of its own: a process group cannot be shared with the
# test process. Linux only (threads counted in /proc/self/task).
CLOSE_GROUP_SCRIPT = """
import gc, json, os, sys, warnings
import torch
# Imported before any group exists, as mmengine does: torch._dynamo's first
# import keeps references to a default group alive at the time.
import torch._dynamo  # noqa: F401
import torch.distributed as dist
from vit_backbones.tools.runtime import close_process_group

def threads():
    return len(os.listdir('/proc/self/task'))

def start(store_file):
    dist.init_process_group(
        'gloo', init_method='file://' + store_file, rank=0, world_size=1)
    model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(2, 2))
    model(torch.randn(3, 2)).sum().backward()
    runner = dict(model=model)
    runner['self'] = runner  # a reference cycle, as mmengine's runner has
    return runner

def close():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        close_process_group()
    return [str(w.message) for w in caught]

def report(case):
    running = threads() - baseline
    warned = close()
    print(json.dumps(dict(case=case, running=running, warned=warned,
                          left=threads() - baseline)))

baseline = threads()
runner = start(sys.argv[1])
report('held')  # the model is still held by runner
del runner
gc.collect()
runner = start(sys.argv[2])
del runner
report('dropped')
"""


@pytest.mark.skipif(not osp.isdir('/proc/self/task'), reason='Linux only')
def test_close_process_group_frees_the_gloo_group(tmp_path):
    """The group (and its worker threads, which abort a finalizing
    interpreter when they outlive it) is freed before the tool returns once
    the runner is dropped, and a group still held is reported."""
    out = _run([
        sys.executable, '-c', CLOSE_GROUP_SCRIPT,
        str(tmp_path / 'store1'),
        str(tmp_path / 'store2')
    ])
    reports = {
        r['case']: r
        for r in map(json.loads, re.findall(r'^\{.*\}$', out, re.M))
    }
    held, dropped = reports['held'], reports['dropped']
    # gloo runs worker threads while a group is alive ...
    assert held['running'] > 0 and dropped['running'] > 0
    # ... which close_process_group cannot free while the model is held ...
    assert held['left'] > 0
    assert any('still referenced' in w for w in held['warned'])
    # ... and frees once the runner is dropped, without a warning.
    assert dropped['left'] == 0 and dropped['warned'] == [], dropped


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
