"""No pickled code runs: every entry point that loads a file refuses a
checkpoint whose pickle would create a marker file, with an error naming
the offending type and the opt-in; real files still load."""
import argparse
import importlib.util
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from helpers import REPO_ROOT

from vit_backbones.checkpoint.files import (CheckpointFileError,
                                            UnsafeCheckpointError,
                                            load_checkpoint_file,
                                            save_checkpoint)

TINY_CLS = osp.join(REPO_ROOT, 'tests/data/configs/tiny_cls.py')


class _Payload:
    """Unpickling this calls ``open(marker, 'w')``: a file appears."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


@pytest.fixture
def evil(tmp_path):
    """A checkpoint in every layout the entry points accept, plus a
    payload; returns (path, marker)."""
    marker = str(tmp_path / 'PWNED')
    path = str(tmp_path / 'evil.pth')
    weights = {'backbone.cls_token': torch.zeros(1, 1, 8)}
    torch.save({'state_dict': weights, 'model': weights, 'net': weights,
                'meta': {}, 'payload': _Payload(marker)}, path)
    return path, marker


def _cli(name):
    path = osp.join(REPO_ROOT, 'tools', 'model_converters', f'{name}.py')
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _assert_refused(error, marker):
    text = str(error)
    assert 'builtins.open' in text or 'io.open' in text, text
    assert '--unsafe-load' in text and 'VIT_BACKBONES_UNSAFE_LOAD' in text
    assert not osp.exists(marker)


@pytest.mark.parametrize('converter', [
    'hvt_to_mmpretrain', 'dhvt_to_mmpretrain', 'vil_to_mmpretrain',
    'hat_net_to_mmpretrain'
])
def test_converter_clis_refuse(evil, tmp_path, converter):
    path, marker = evil
    dst = str(tmp_path / 'out.pth')
    with pytest.raises(UnsafeCheckpointError) as error:
        _cli(converter).main([path, dst])
    _assert_refused(error.value, marker)
    assert not osp.exists(dst)


def test_publish_model_refuses(evil, tmp_path):
    path, marker = evil
    with pytest.raises(UnsafeCheckpointError) as error:
        _cli('publish_model').main([path, str(tmp_path / 'published.pth')])
    _assert_refused(error.value, marker)
    assert not [f for f in os.listdir(tmp_path) if 'published' in f]


def test_pretrained_init_cfg_and_load_checkpoint_refuse(evil):
    from mmengine.runner import load_checkpoint

    from vit_backbones.models import HVT
    path, marker = evil
    arch = dict(embed_dims=32, num_layers=2, num_heads=2, patch_size=16,
                pool_blocks=(0, ))
    model = HVT(arch, init_cfg=dict(type='Pretrained', checkpoint=path,
                                    prefix='backbone.'))
    with pytest.raises(UnsafeCheckpointError) as error:
        model.init_weights()
    _assert_refused(error.value, marker)
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint(HVT(arch), path)
    assert not osp.exists(marker)


def test_get_model_refuses(evil):
    from mmpretrain import get_model
    path, marker = evil
    with pytest.raises(UnsafeCheckpointError) as error:
        get_model('hat-net-tiny_8xb128_in1k', pretrained=path)
    _assert_refused(error.value, marker)


def _run_tool(args):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env.pop('VIT_BACKBONES_UNSAFE_LOAD', None)
    return subprocess.run([sys.executable, *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope='module')
def cls_data(tmp_path_factory):
    from vit_backbones.tools.demo_data import make_demo_data
    root = tmp_path_factory.mktemp('demo')
    make_demo_data(str(root), seed=1, tasks=('cls', ),
                   sizes=dict(cls=dict(train=4, val=1, image=32)))
    return [
        f'{loader}.dataset.data_root={osp.join(root, "cls")}'
        for loader in ('train_dataloader', 'val_dataloader',
                       'test_dataloader')
    ]


@pytest.mark.parametrize('args', [
    ['tools/test.py', TINY_CLS, '{ckpt}'],
    ['tools/train.py', TINY_CLS, '--resume', '{ckpt}'],
    ['tools/train.py', TINY_CLS, '--cfg-options', 'load_from={ckpt}'],
], ids=['test', 'train-resume', 'train-load_from'])
def test_tools_refuse(evil, cls_data, tmp_path, args):
    path, marker = evil
    args = [a.format(ckpt=path) for a in args]
    if '--cfg-options' not in args:
        args.append('--cfg-options')
    args += cls_data + ['--work-dir', str(tmp_path / 'work')]
    proc = _run_tool(args)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert 'Refused to load' in output, output[-3000:]
    _assert_refused(output, marker)


def test_opt_in_loads_a_trusted_file(evil, monkeypatch):
    path, marker = evil
    assert load_checkpoint_file(path, unsafe=True)['meta'] == {}
    assert osp.exists(marker)  # the payload ran: only for trusted files
    os.remove(marker)
    monkeypatch.setenv('VIT_BACKBONES_UNSAFE_LOAD', '1')
    load_checkpoint_file(path)
    assert osp.exists(marker)


def test_official_and_training_files_load(tmp_path):
    """The allowlist covers the official files' argparse.Namespace and the
    numpy objects of mmengine's message hub."""
    import numpy as np
    from mmengine.logging import MessageHub
    hub = MessageHub.get_instance('safe_load_test')
    hub.update_scalar('train/loss', 0.5)
    hub.update_scalar('train/lr', np.float64(0.1))
    path = str(tmp_path / 'file.pth')
    torch.save({'model': {'w': torch.ones(2)},
                'args': argparse.Namespace(model='dhvt', lr=5e-4),
                'message_hub': hub.state_dict(),
                'meta': {'seed': np.int64(3), 'mean': np.zeros(3)}}, path)
    loaded = load_checkpoint_file(path)
    assert loaded['args'].model == 'dhvt'
    assert loaded['message_hub']['log_scalars']['train/loss'].mean() == 0.5


def test_truncated_file_is_a_clear_error(tmp_path):
    path = str(tmp_path / 'good.pth')
    torch.save({'state_dict': {'w': torch.ones(1000)}}, path)
    with open(path, 'rb') as f:
        data = f.read()
    truncated = str(tmp_path / 'truncated.pth')
    with open(truncated, 'wb') as f:
        f.write(data[:len(data) // 2])
    with pytest.raises(CheckpointFileError, match='not a complete'):
        load_checkpoint_file(truncated)


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    dst = str(tmp_path / 'converted.pth')

    def broken_save(obj, f, *args, **kwargs):
        with open(f, 'wb') as out:
            out.write(b'half a file')
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, 'save', broken_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({'w': torch.ones(1)}, dst)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('content', ['random', 'pickle'])
def test_a_file_that_is_no_checkpoint_says_so(tmp_path, content):
    """Random bytes or a pickle torch did not write are not "unsafe": they
    are no checkpoint, and the message says that."""
    import pickle
    path = tmp_path / 'weights.pth'
    path.write_bytes(os.urandom(4096) if content == 'random'
                     else pickle.dumps({'a': 1}, protocol=4))
    with pytest.raises(CheckpointFileError,
                       match='is not a checkpoint: neither a torch.save '
                       'file nor a safetensors file'):
        load_checkpoint_file(str(path))
