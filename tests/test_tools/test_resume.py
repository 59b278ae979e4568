"""A run stopped after epoch 1 and resumed with ``tools/train.py --resume``
ends with the same weights, bit for bit, as the uninterrupted run (CPU,
``randomness=dict(seed=..., deterministic=True)``), for a classifier and a
detector. Both draw random numbers in training (drop path, random flips,
shuffling) and validate between the epochs."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from helpers import REPO_ROOT, demo_data_options

from vit_backbones.checkpoint.files import load_checkpoint_file
from vit_backbones.tools.demo_data import make_demo_data

SIZES = dict(cls=dict(train=4, val=1, image=32),
             det=dict(train=4, val=2, image=96))


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('resume'))
    make_demo_data(root, seed=3, tasks=('cls', 'det'), sizes=SIZES)
    return root


def _options(task, root):
    options = demo_data_options(task, root)
    if task == 'det':
        options += [
            'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
            'val_dataloader.num_workers=0', 'train_cfg.val_interval=1',
            'default_hooks.checkpoint.interval=1',
            'default_hooks.checkpoint.max_keep_ckpts=3',
            'randomness.seed=11', 'randomness.deterministic=True'
        ]
    return options


def _train(config, work_dir, options, *extra):
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', config, '--work-dir', work_dir,
         *extra, '--cfg-options', *options],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.mark.parametrize('task,config', [
    ('cls', 'tests/data/configs/tiny_resume_cls.py'),
    ('det', 'configs/demo/retinanet_hat-net-tiny_fpn_shapes.py'),
])
def test_resume_is_exact(task, config, data, tmp_path):
    options = _options(task, data)
    full, part = str(tmp_path / 'full'), str(tmp_path / 'part')
    _train(config, full, options + ['train_cfg.max_epochs=2'])
    _train(config, part, options + ['train_cfg.max_epochs=1'])
    _train(config, part, options + ['train_cfg.max_epochs=2'], '--resume',
           osp.join(part, 'epoch_1.pth'))
    expected = load_checkpoint_file(osp.join(full, 'epoch_2.pth'))
    resumed = load_checkpoint_file(osp.join(part, 'epoch_2.pth'))
    assert expected['meta']['epoch'] == resumed['meta']['epoch'] == 2
    weights, resumed_weights = expected['state_dict'], resumed['state_dict']
    assert weights.keys() == resumed_weights.keys()
    different = [k for k in weights
                 if not torch.equal(weights[k], resumed_weights[k])]
    assert not different
