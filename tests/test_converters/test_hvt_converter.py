"""Tests of the official-HVT checkpoint converter.

The parity fixture in ``tests/data/hvt`` was produced by running the official
HVT code (MonashAI/HVT @ f32cc1c) on a tiny model; its README says how.
"""
import argparse
import json
import os.path as osp
import re
from collections import OrderedDict

import pytest
import torch
from helpers import DATA_ROOT, REPO_ROOT

from vit_backbones.converters import CheckpointMismatchError
from vit_backbones.converters.hvt import convert, infer_arch
from vit_backbones.models.backbones import HVT

FIXTURES = osp.join(DATA_ROOT, 'hvt')
TINY_ARCH = dict(
    embed_dims=48, num_layers=4, num_heads=2, patch_size=16,
    pool_block_width=2)
TINY_SIZE = (64, 80)


def _classifier(arch, num_classes, **backbone):
    from mmengine.registry import init_default_scope
    from mmpretrain.models import ImageClassifier
    init_default_scope('mmpretrain')
    embed_dims = (arch['embed_dims'] if isinstance(arch, dict) else
                  HVT.arch_zoo[arch]['embed_dims'])
    return ImageClassifier(
        backbone=dict(type='HVT', arch=arch, **backbone),
        head=dict(
            type='LinearClsHead',
            num_classes=num_classes,
            in_channels=embed_dims))


def _fixture():
    state_dict = torch.load(
        osp.join(FIXTURES, 'hvt_tiny_official.pth'), weights_only=True)
    io = torch.load(
        osp.join(FIXTURES, 'hvt_tiny_official_io.pth'), weights_only=True)
    return state_dict, io


_INVERSE = [
    (r'^patch_embed\.projection\.', 'patch_embed.proj.'),
    (r'^layers\.(\d+)\.ln([12])\.', r'blocks.\1.norm\2.'),
    (r'^layers\.(\d+)\.attn\.', r'blocks.\1.attn.'),
    (r'^layers\.(\d+)\.ffn\.layers\.0\.0\.', r'blocks.\1.mlp.fc1.'),
    (r'^layers\.(\d+)\.ffn\.layers\.1\.', r'blocks.\1.mlp.fc2.'),
]


def _official_format(model: HVT, num_classes=1000):
    """The official key layout of ``model``'s weights (a stand-in for a
    release file; shapes and names only matter)."""
    out = OrderedDict()
    for key, value in model.state_dict().items():
        m = re.match(r'^pools\.(\d+)\.pos_embed$', key)
        if m:
            key = f'blocks.{model.pool_blocks[int(m.group(1))]}.pos_embed'
        for pattern, repl in _INVERSE:
            key = re.sub(pattern, repl, key)
        out[key] = value
    d = model.embed_dims
    out['head.weight'] = torch.zeros(num_classes, d, device=value.device)
    out['head.bias'] = torch.zeros(num_classes, device=value.device)
    return out


def test_fixture_parity():
    state_dict, io = _fixture()
    checkpoint = {
        'model': state_dict,
        'epoch': 299,
        'args': argparse.Namespace(model='hvt_model')
    }
    converted = convert(checkpoint, arch=TINY_ARCH, img_size=TINY_SIZE)
    assert all(k.startswith(('backbone.', 'head.fc.')) for k in converted)
    assert 'backbone.pools.1.pos_embed' in converted  # blocks.2.pos_embed
    model = _classifier(TINY_ARCH, 10, img_size=TINY_SIZE)
    model.load_state_dict(converted, strict=True)
    model.eval()
    with torch.no_grad():
        feats = model.extract_feat(io['input'])[-1]
        logits = model(io['input'], mode='tensor')
    assert (feats - io['features']).abs().max() <= 1e-4
    assert (logits - io['logits']).abs().max() <= 1e-4


@pytest.mark.parametrize('wrap', [
    lambda sd: sd,
    lambda sd: {'model': sd},
    lambda sd: {'state_dict': sd},
    lambda sd: {'model': OrderedDict(('module.' + k, v)
                                     for k, v in sd.items())},
])
def test_wrappers_and_module_prefix(wrap):
    state_dict, _ = _fixture()
    converted = convert(wrap(state_dict), arch=TINY_ARCH, img_size=TINY_SIZE)
    reference = convert(state_dict, arch=TINY_ARCH, img_size=TINY_SIZE)
    assert list(converted) == list(reference)


@pytest.mark.parametrize('release,arch', [
    ('hvt_ti_1', 'ti-1'),
    ('hvt_s_0', 's-0'),
    ('hvt_s_1', 's-1'),
    ('hvt_s_2', 's-2'),
    ('hvt_s_3', 's-3'),
    ('scale_hvt_ti_4', 's-4'),
])
def test_release_layouts(release, arch):
    """The six release files: the variant is read from the keys and the
    full-size key sets convert (checked on the meta device)."""
    with torch.device('meta'):
        official = _official_format(HVT(arch))
    assert infer_arch(official) == arch
    converted = convert({'model': official})
    n_pools = len(HVT.arch_zoo[arch]['pool_blocks'])
    assert sum('pools.' in k for k in converted) == n_pools
    assert converted['head.fc.weight'].shape == (1000, HVT.arch_zoo[arch][
        'embed_dims'])


def test_rejects_bad_checkpoints():
    state_dict, _ = _fixture()

    def fails(sd, match, **kwargs):
        kwargs.setdefault('arch', TINY_ARCH)
        kwargs.setdefault('img_size', TINY_SIZE)
        with pytest.raises(CheckpointMismatchError, match=match):
            convert(sd, **kwargs)

    # Unknown key (e.g. a DeiT checkpoint with a class token).
    fails(dict(state_dict, cls_token=torch.zeros(1, 1, 48)), 'cls_token')
    # A key the model needs is missing.
    fails({k: v for k, v in state_dict.items()
           if k != 'blocks.1.attn.qkv.weight'}, 'missing keys')
    # A pooling position embedding of a block that does not pool.
    fails(dict(state_dict, **{'blocks.1.pos_embed': torch.zeros(1, 9, 48)}),
          r"not part of an official HVT checkpoint.*'blocks.1.pos_embed'")
    # Wrong shape for the arch.
    fails(state_dict, 'shape mismatches', arch=dict(TINY_ARCH, embed_dims=64,
                                                    num_heads=2))
    # No head.
    fails({k: v for k, v in state_dict.items() if not k.startswith('head')},
          'head')
    # A foreign checkpoint (ResNet-like keys).
    with pytest.raises(CheckpointMismatchError, match='Not an official HVT'):
        convert({'state_dict': {'conv1.weight': torch.zeros(64, 3, 7, 7)}})
    # Stage lengths that 1-D pooling cannot produce.
    with pytest.raises(CheckpointMismatchError, match='1-D pooling'):
        bad = dict(state_dict)
        bad['blocks.0.pos_embed'] = torch.zeros(1, 10, 48)
        infer_arch(bad)
    # Non-square grid: the input size cannot be guessed.
    fails(state_dict, 'Pass img_size', img_size=None)
    # Without validation the mapping alone runs: no head is no error.
    headless = {k: v for k, v in state_dict.items()
                if not k.startswith('head')}
    assert 'head.fc.weight' not in convert(
        headless, arch=TINY_ARCH, img_size=TINY_SIZE, validate=False)


CLI_ARCH = dict(embed_dims=64, num_layers=2, num_heads=1, patch_size=16,
                pool_blocks=(0, ))


def _release_file(path, img_size, **extra):
    """A release-like official file of a 7-class CLI_ARCH classifier
    trained at ``img_size``; returns the classifier."""
    torch.manual_seed(0)
    ours = _classifier(CLI_ARCH, 7, img_size=img_size,
                       drop_path_rate=0.).eval()
    ours.init_weights()
    official = _official_format(ours.backbone, num_classes=7)
    official['head.weight'] = ours.head.fc.weight.detach().clone()
    official['head.bias'] = ours.head.fc.bias.detach().clone()
    torch.save(dict(model=official, **extra), path)
    return ours


def _cli():
    """tools/model_converters/hvt_to_mmpretrain.py as a module."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'hvt_to_mmpretrain',
        osp.join(REPO_ROOT, 'tools', 'model_converters',
                 'hvt_to_mmpretrain.py'))
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    return cli


def test_cli_round_trip(tmp_path):
    """The CLI reads a release-like file (pickled Namespace), infers the
    arch and writes a file that loads with weights_only=True."""
    arch = CLI_ARCH
    src, dst = tmp_path / 'official.pth', tmp_path / 'converted.pth'
    ours = _release_file(src, 32, args=argparse.Namespace(lr=1e-3))
    cli = _cli()
    cli.main([str(src), str(dst)])
    # The same flags as every converter: --arch, --img-size, --no-validate.
    cli.main([str(src), str(tmp_path / 'explicit.pth'), '--arch',
              json.dumps(arch), '--img-size', '32'])
    with pytest.raises(CheckpointMismatchError, match='shape mismatches'):
        cli.main([str(src), str(tmp_path / 'bad.pth'), '--img-size', '64'])
    assert not (tmp_path / 'bad.pth').exists()

    for bad in (['0'], ['32', '48', '64']):
        with pytest.raises(SystemExit):
            cli.main([str(src), str(tmp_path / 'bad.pth'), '--img-size',
                      *bad])

    converted = torch.load(dst, weights_only=True)['state_dict']
    other = _classifier(arch, 7, img_size=32).eval()
    other.load_state_dict(converted, strict=True)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(
            other(x, mode='tensor'), ours(x, mode='tensor'))


def test_cli_takes_a_non_square_img_size(tmp_path):
    """A checkpoint trained at H x W != square converts from the command
    line with ``--img-size H W`` (its pos_embed is not a square grid, so it
    cannot be read from the weights) and gives the same outputs."""
    src, dst = tmp_path / 'official.pth', tmp_path / 'converted.pth'
    ours = _release_file(src, (32, 48))
    cli = _cli()
    with pytest.raises(ValueError, match='Pass img_size'):
        cli.main([str(src), str(tmp_path / 'inferred.pth')])
    cli.main([str(src), str(dst), '--img-size', '32', '48'])
    other = _classifier(CLI_ARCH, 7, img_size=(32, 48)).eval()
    other.load_state_dict(
        torch.load(dst, weights_only=True)['state_dict'], strict=True)
    x = torch.rand(2, 3, 32, 48)
    with torch.no_grad():
        torch.testing.assert_close(
            other(x, mode='tensor'), ours(x, mode='tensor'))
