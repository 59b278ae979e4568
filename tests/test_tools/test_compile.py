"""``torch.compile`` in training: mmengine's ``compile`` option of a config,
through ``tools/train.py``, for every network.

The compiled run uses the ``aot_eager`` backend: it captures forward and
backward of the whole train step with dynamo and AOTAutograd (where a
model's graph breaks, guards and in-place ops show up) without Inductor's
C++ code generation, which takes minutes per model on a CI machine.
``compile=True`` (Inductor) is what the README documents for users.
"""
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
from helpers import REPO_ROOT, demo_data_options

from vit_backbones.tools.demo_data import make_demo_data

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(__file__)),
                            'test_models', 'test_backbones'))
from test_contract import NETWORKS  # noqa: E402

TINY_CLS = osp.join(REPO_ROOT, 'tests/data/configs/tiny_cls.py')
LOSS = re.compile(r'Epoch\(train\)\s+\[1\]\[\s*(\d+)/\d+\].*?\bloss: '
                  r'([0-9.]+)')


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo')
    make_demo_data(str(root), seed=3, tasks=('cls', ),
                   sizes=dict(cls=dict(train=2, val=1, image=64)))
    return root


def _config(tmp_path, net, compiled):
    """A config of the tiny classifier with the network's tiny arch."""
    backbone = dict(type=net.cls.__name__, arch=net.arch,
                    out_type='avg_featmap', drop_path_rate=0.)
    backbone.update({k: v for k, v in net.extra.items()
                     if k != 'drop_path_rate'})
    lines = [
        f'_base_ = [{TINY_CLS!r}]',
        f'model = dict(backbone=dict(_delete_=True, **{backbone!r}), '
        f'neck=None, head=dict(in_channels={net.channels[-1]}))',
        'train_dataloader = dict(batch_size=4)',
        'train_cfg = dict(max_epochs=1, val_interval=2)',
        'randomness = dict(seed=5, deterministic=True)',
    ]
    if compiled:
        lines.append("compile = dict(backend='aot_eager')")
    path = tmp_path / ('compiled.py' if compiled else 'eager.py')
    path.write_text('\n'.join(lines) + '\n')
    return str(path)


def _train_losses(config, work_dir, root):
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable, 'tools/train.py', config, '--work-dir',
         str(work_dir), '--cfg-options', *demo_data_options('cls', root)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out, {int(i): float(loss) for i, loss in LOSS.findall(out)}


@pytest.mark.parametrize('name', ['hvt-1d', 'dhvt', 'vil', 'hat_net'])
def test_compiled_training_matches_eager(name, demo_root, tmp_path):
    """compile=... in the config: training starts, steps, and logs the
    losses of the eager run."""
    net = NETWORKS[name]
    _, eager = _train_losses(_config(tmp_path, net, False), tmp_path / 'e',
                             demo_root)
    out, compiled = _train_losses(_config(tmp_path, net, True),
                                  tmp_path / 'c', demo_root)
    assert 'Model has been "compiled"' in out
    assert len(eager) >= 2 and sorted(compiled) == sorted(eager), \
        out[-3000:]
    for i in eager:
        assert compiled[i] == pytest.approx(eager[i], abs=2e-4), (i, out)
