"""Tests of the official HAT-Net checkpoint converter.

The fixtures in tests/data/hat_net were produced by running the official
``HAT_Net.py`` (yun-liu/HAT-Net @ 4b2e7bf) on a small arch; see
tests/data/hat_net/README.md for how. Converted with our converter and
loaded into our model, they must give the official outputs.
"""
import os.path as osp
import re
from collections import OrderedDict

import pytest
import torch
from helpers import DATA_ROOT, REPO_ROOT, build_model_from_config, load_config

from vit_backbones.converters.common import CheckpointMismatchError
from vit_backbones.converters.common import backbone_state_dict
from vit_backbones.converters.hat_net import convert, convert_key, infer_arch
from vit_backbones.models.backbones.hat_net import HATNet

FIXTURES = osp.join(DATA_ROOT, 'hat_net')
# The arch of the fixture model (official constructor arguments
# dims=[16, 32, 48, 64], head_dim=16, expansions=[2, 2, 2, 2],
# depths=[1, 1, 2, 1], kernel_sizes=[3, 5, 3, 3], num_classes=10).
FIXTURE_ARCH = dict(
    embed_dims=[16, 32, 48, 64],
    depths=[1, 1, 2, 1],
    head_dim=16,
    mlp_ratios=[2, 2, 2, 2],
    kernel_sizes=[3, 5, 3, 3])


def load_fixture(name):
    return torch.load(osp.join(FIXTURES, name), weights_only=True)


@pytest.fixture(scope='module')
def official_state():
    return load_fixture('official_state_dict.pth')


def test_fixture_logits(official_state):
    """Converted weights in the mmpretrain classifier built from our
    ImageNet config give the official logits (224x224, ImageNet G1/G2)."""
    fixture = load_fixture('official_cls_224.pth')
    cfg = load_config('configs/hat_net/hat-net-tiny_8xb128_in1k.py')
    cfg.model.backbone.arch = FIXTURE_ARCH
    cfg.model.head.num_classes = 10
    cfg.model.head.in_channels = 64
    model = build_model_from_config(cfg).eval()
    model.load_state_dict(convert(official_state, arch=FIXTURE_ARCH))
    with torch.no_grad():
        logits = model(fixture['input'].float(), mode='tensor')
    assert (logits - fixture['logits']).abs().max() <= 1e-4


def test_fixture_dense_stages(official_state):
    """Stage outputs with the dense G1/G2 at 128x256 (a size the official
    code accepts) equal the official ones."""
    fixture = load_fixture('official_dense_128x256.pth')
    model = HATNet(
        arch=FIXTURE_ARCH,
        grid_sizes=(8, 8, 8, 1),
        ds_ratios=(16, 8, 4, 1),
        out_indices=(0, 1, 2, 3)).eval()
    model.load_state_dict(
        backbone_state_dict(convert(official_state, arch=FIXTURE_ARCH)))
    with torch.no_grad():
        outs = model(fixture['input'].float())
    for ours, official in zip(outs, fixture['stages']):
        assert ours.shape == official.shape
        assert (ours - official).abs().max() <= 1e-4


def test_wrappers_and_prefix(official_state):
    expected = convert(official_state, arch=FIXTURE_ARCH)
    ddp = OrderedDict(('module.' + k, v) for k, v in official_state.items())
    for checkpoint in (dict(model=official_state),
                       dict(state_dict=ddp, epoch=300),
                       dict(model=ddp, optimizer={}, args=None)):
        converted = convert(checkpoint, arch=FIXTURE_ARCH)
        assert list(converted) == list(expected)
        assert all(torch.equal(converted[k], expected[k]) for k in expected)


def test_key_layout(official_state):
    converted = convert(official_state, arch=FIXTURE_ARCH)
    assert set(k for k in converted
               if k.startswith('head.')) == {'head.fc.weight', 'head.fc.bias'}
    assert converted['backbone.stages.1.downsample.conv.weight'] is \
        official_state['ds2.conv.weight']
    assert convert_key('blocks.2.1.conv.conv3.1.bias') == \
        'backbone.stages.2.blocks.1.mlp.out_norm.bias'
    assert convert_key('blocks.0.0.attn.proj_norm.weight') == \
        'backbone.stages.0.blocks.0.attn.proj_norm.weight'
    assert convert_key('ds4.norm.weight') == \
        'backbone.stages.3.downsample.norm.weight'
    assert convert_key('classifier.1.bias') == 'head.fc.bias'
    assert infer_arch(official_state) == {
        k: v
        for k, v in FIXTURE_ARCH.items() if k != 'head_dim'
    }


def to_official_keys(model):
    """Official key layout of a HATNet (inverse of the converter), to build
    official-format state dicts of the published variants."""
    rules = [
        (r'patch_embed\.conv1\.', 'patch_embed.0.'),
        (r'patch_embed\.norm\.', 'patch_embed.1.'),
        (r'patch_embed\.conv2\.', 'patch_embed.3.'),
        (r'stages\.(\d)\.downsample\.', lambda m: f'ds{int(m.group(1)) + 1}.'),
        (r'stages\.(\d)\.blocks\.(\d+)\.attn\.', r'blocks.\1.\2.attn.'),
        (r'stages\.(\d)\.blocks\.(\d+)\.mlp\.norm\.',
         r'blocks.\1.\2.conv.conv1.0.'),
        (r'stages\.(\d)\.blocks\.(\d+)\.mlp\.fc1\.',
         r'blocks.\1.\2.conv.conv1.1.'),
        (r'stages\.(\d)\.blocks\.(\d+)\.mlp\.dwconv\.',
         r'blocks.\1.\2.conv.conv2.0.'),
        (r'stages\.(\d)\.blocks\.(\d+)\.mlp\.fc2\.',
         r'blocks.\1.\2.conv.conv3.0.'),
        (r'stages\.(\d)\.blocks\.(\d+)\.mlp\.out_norm\.',
         r'blocks.\1.\2.conv.conv3.1.'),
    ]
    state = OrderedDict()
    for key, value in model.state_dict().items():
        for pattern, repl in rules:
            new, n = re.subn('^' + pattern, repl, key)
            if n:
                state[new] = value
                break
        else:
            raise AssertionError(key)
    c = model.embed_dims[-1]
    state['classifier.1.weight'] = torch.empty(1000, c, device='meta')
    state['classifier.1.bias'] = torch.empty(1000, device='meta')
    return state


@pytest.mark.parametrize('arch', ['tiny', 'small', 'medium', 'large'])
def test_published_variants_recognised(arch):
    with torch.device('meta'):
        model = HATNet(arch=arch)
    official = to_official_keys(model)
    converted = convert(official)  # arch inferred, keys and shapes checked
    assert len(converted) == len(official)
    assert set(converted) == {'backbone.' + k
                              for k in model.state_dict()
                              } | {'head.fc.weight', 'head.fc.bias'}


def test_rejects_transcnn(official_state):
    # The key layout of TransCNN v1.0 (BatchNorm everywhere, residual
    # max-pool downsampling), as its checkpoints hold it.
    transcnn = OrderedDict()
    for key in ('patch_embed.0.weight', 'patch_embed.1.weight',
                'patch_embed.1.running_mean', 'patch_embed.1.running_var',
                'patch_embed.1.num_batches_tracked',
                'blocks.0.0.attn.norm.running_mean',
                'blocks.0.0.conv.conv1.0.weight',
                'blocks.0.0.conv.conv1.1.running_var', 'ds2.conv.weight',
                'ds2.residual.weight', 'ds2.norm1.weight', 'ds2.norm2.weight',
                'classifier.1.weight'):
        transcnn[key] = torch.zeros(1)
    with pytest.raises(CheckpointMismatchError, match='TransCNN v1.0'):
        convert(dict(model=transcnn))
    # BatchNorm statistics alone are enough to tell
    with_bn = OrderedDict(official_state)
    with_bn['blocks.0.0.attn.norm.running_mean'] = torch.zeros(16)
    with pytest.raises(CheckpointMismatchError, match='HAT-Net_'):
        convert(with_bn, arch=FIXTURE_ARCH)


def test_rejects_bad_checkpoints(official_state):
    unknown = OrderedDict(official_state)
    unknown['blocks.0.0.attn.rel_pos'] = torch.zeros(1)
    with pytest.raises(CheckpointMismatchError, match='attn.rel_pos'):
        convert(unknown, arch=FIXTURE_ARCH)

    missing = OrderedDict(official_state)
    missing.pop('blocks.2.1.attn.kv.weight')
    with pytest.raises(
            CheckpointMismatchError, match='stages.2.blocks.1.attn.kv.weight'):
        convert(missing, arch=FIXTURE_ARCH)

    no_head = OrderedDict(
        (k, v) for k, v in official_state.items() if 'classifier' not in k)
    with pytest.raises(CheckpointMismatchError, match='classifier head'):
        convert(no_head, arch=FIXTURE_ARCH)

    with pytest.raises(CheckpointMismatchError, match='shape'):
        convert(official_state, arch=dict(FIXTURE_ARCH, mlp_ratios=[4] * 4))

    with pytest.raises(CheckpointMismatchError, match='no published'):
        convert(official_state)  # not a published variant, no arch given

    converted = convert(official_state, arch=FIXTURE_ARCH)
    with pytest.raises(CheckpointMismatchError, match='already'):
        convert(converted)


def test_cli(tmp_path):
    import importlib.util
    path = osp.join(REPO_ROOT, 'tools', 'model_converters',
                    'hat_net_to_mmpretrain.py')
    spec = importlib.util.spec_from_file_location('hat_net_cli', path)
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    src = tmp_path / 'HAT-Net_Fixture.pth'
    torch.save(dict(model=load_fixture('official_state_dict.pth')), str(src))
    dst = tmp_path / 'out' / 'converted.pth'
    import json
    cli.main([str(src), str(dst), '--arch', json.dumps(FIXTURE_ARCH)])
    saved = torch.load(str(dst), weights_only=True)
    assert saved['meta']['converted_from'] == 'HAT-Net_Fixture.pth'
    assert 'head.fc.weight' in saved['state_dict']
    assert 'backbone.patch_embed.conv1.weight' in saved['state_dict']
