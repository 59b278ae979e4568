"""DHVT converter: parity with the official code on committed fixtures.

The fixtures in ``tests/data/dhvt/`` were made by running the official
``ArieSeirack/DHVT`` code (see ``tests/data/dhvt/README.md``): small
official models in eval mode with non-trivial BN running statistics, their
state dicts (``model`` and a different ``model_ema``), inputs and logits.
"""
import argparse
import os.path as osp

import pytest
import torch
from helpers import DATA_ROOT
from mmengine.registry import init_default_scope

from vit_backbones.converters.common import CheckpointMismatchError
from vit_backbones.checkpoint.files import load_checkpoint_file
from vit_backbones.converters.dhvt import (arch_name, convert, convert_key,
                                           infer_arch, official_model_name)

FIXTURES = osp.join(DATA_ROOT, 'dhvt')
CASES = {
    # fixture: (arch, input sizes)
    'tiny_cifar_p4': (dict(embed_dims=32, num_layers=2, num_heads=4,
                           patch_size=4), ['32x32', '36x36']),
    'tiny_cifar_p2': (dict(embed_dims=32, num_layers=2, num_heads=4,
                           patch_size=2), ['16x16']),
    'tiny_in1k_p16': (dict(embed_dims=48, num_layers=2, num_heads=3,
                           patch_size=16), ['64x64', '72x72']),
}


def _load(name):
    ckpt = torch.load(
        osp.join(FIXTURES, f'official_{name}.pth'), weights_only=True)
    io = torch.load(osp.join(FIXTURES, f'io_{name}.pth'), weights_only=True)
    return ckpt, io


def _classifier(arch, num_classes):
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    model = MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='DHVT', arch=arch),
            head=dict(
                type='LinearClsHead',
                num_classes=num_classes,
                in_channels=arch['embed_dims'])))
    return model.eval()


@pytest.mark.parametrize('name', sorted(CASES))
@pytest.mark.parametrize('use_ema', [False, True])
def test_fixture_parity(name, use_ema):
    arch, sizes = CASES[name]
    ckpt, io = _load(name)
    state_dict = convert(ckpt, use_ema=use_ema)
    assert infer_arch(state_dict) == arch
    model = _classifier(arch, state_dict['head.fc.weight'].shape[0])
    model.load_state_dict(state_dict, strict=True)
    # the BN buffers came along, with their counters
    bn = model.backbone.layers[0].ffn.norm1
    assert bn.num_batches_tracked.item() == 3
    tag = 'model_ema' if use_ema else 'model'
    for size in sizes:
        with torch.no_grad():
            logits = model(io[f'input_{size}'], mode='tensor')
        expected = io[f'logits_{tag}_{size}']
        diff = (logits - expected).abs().max().item()
        assert diff <= 1e-4, f'{name} {tag} {size}: max abs diff {diff}'


def test_ema_and_model_differ():
    ckpt, _ = _load('tiny_cifar_p4')
    a = convert(ckpt)
    b = convert(ckpt, use_ema=True)
    assert not torch.equal(a['backbone.cls_token'], b['backbone.cls_token'])
    with pytest.raises(CheckpointMismatchError, match='model_ema'):
        convert({'model': ckpt['model']}, use_ema=True)


@pytest.mark.parametrize('wrap', ['raw', 'model', 'state_dict', 'module'])
def test_wrappers(wrap):
    ckpt, _ = _load('tiny_cifar_p2')
    sd = ckpt['model']
    if wrap == 'raw':
        src = dict(sd)
    elif wrap == 'module':
        src = {'model': {'module.' + k: v for k, v in sd.items()}}
    else:
        src = {wrap: sd, 'epoch': 3}
    out = convert(src)
    assert set(out) == set(convert(ckpt))
    assert all(k.startswith(('backbone.', 'head.fc.')) for k in out)


def test_key_rules():
    assert convert_key('blocks.3.attn.pos_embed') == \
        'backbone.layers.3.attn.head_embed'
    assert convert_key('patch_embed.proj.4.1.running_var') == \
        'backbone.patch_embed.convs.2.norm.running_var'
    assert convert_key('blocks.0.mlp.conv2.weight') == \
        'backbone.layers.0.ffn.dw_conv.weight'
    assert convert_key('norm.weight') == 'backbone.norm.weight'
    assert convert_key('head.bias') == 'head.fc.bias'
    for bad in ('pos_embed', 'patch_embed.proj.1.0.weight',
                'patch_embed.proj.weight', 'blocks.0.mlp.fc1.weight',
                'blocks.0.attn.ht_proj.scale', 'dist_token'):
        with pytest.raises(CheckpointMismatchError):
            convert_key(bad)


def test_rejects_unknown_missing_and_foreign():
    ckpt, _ = _load('tiny_cifar_p4')
    sd = dict(ckpt['model'])
    with pytest.raises(CheckpointMismatchError, match='unexpected_thing'):
        convert({**sd, 'unexpected_thing': torch.zeros(1)})
    missing = {k: v for k, v in sd.items() if 'mlp.bn2' not in k}
    with pytest.raises(CheckpointMismatchError, match='missing keys'):
        convert(missing)
    no_head = {k: v for k, v in sd.items() if not k.startswith('head.')}
    with pytest.raises(CheckpointMismatchError, match='head'):
        convert(no_head)
    wrong = dict(sd)
    wrong['blocks.1.attn.ht_norm.weight'] = torch.ones(3)
    with pytest.raises(CheckpointMismatchError, match='shape'):
        convert(wrong)
    # a DeiT/vanilla-ViT checkpoint (timm names, absolute position embedding)
    deit = {
        'cls_token': torch.zeros(1, 1, 8),
        'pos_embed': torch.zeros(1, 5, 8),
        'patch_embed.proj.weight': torch.zeros(8, 3, 16, 16),
        'patch_embed.proj.bias': torch.zeros(8),
        'blocks.0.mlp.fc1.weight': torch.zeros(32, 8),
        'head.weight': torch.zeros(10, 8),
        'head.bias': torch.zeros(10),
    }
    with pytest.raises(CheckpointMismatchError, match='not part of'):
        convert({'model': deit})
    # ... and an mmpretrain checkpoint that is already converted
    with pytest.raises(CheckpointMismatchError, match='already in the '
                       'mmpretrain layout'):
        convert({'state_dict': convert(ckpt)})


def test_infer_arch_and_names():
    assert arch_name(
        dict(embed_dims=192, num_layers=12, num_heads=3,
             patch_size=16)) == 'tiny-in1k-p16'
    assert arch_name(
        dict(embed_dims=192, num_layers=12, num_heads=4,
             patch_size=2)) == 'tiny-cifar-p2'
    small = dict(embed_dims=384, num_layers=12, num_heads=6, patch_size=16)
    assert arch_name(small, 345) == 'small-domainnet-p16'
    assert arch_name(small, 1000) == 'small-in1k-p16'
    assert arch_name(CASES['tiny_cifar_p4'][0]) is None
    converted = convert(_load('tiny_in1k_p16')[0]['model'])
    assert {k for k in converted if k.startswith('head.')} == {
        'head.fc.weight', 'head.fc.bias'}
    assert infer_arch(converted)['patch_size'] == 16
    # An explicit arch is validated, not trusted.
    with pytest.raises(CheckpointMismatchError, match='shape mismatches'):
        convert(_load('tiny_in1k_p16')[0], arch='small-in1k-p16')
    with pytest.raises(CheckpointMismatchError, match='head-token'):
        infer_arch({'cls_token': torch.zeros(1, 1, 8),
                    'blocks.0.norm1.weight': torch.zeros(8)})


def test_cli(tmp_path):
    """The CLI reads a main.py-style file (pickled Namespace) and writes a
    checkpoint that loads with ``weights_only=True``."""
    import importlib.util
    ckpt, io = _load('tiny_cifar_p4')
    src = tmp_path / 'checkpoint.pth'
    torch.save(
        dict(
            model=ckpt['model'],
            model_ema=ckpt['model_ema'],
            epoch=299,
            args=argparse.Namespace(model='dhvt_tiny_cifar_patch4')), src)
    assert official_model_name(
        load_checkpoint_file(src)) == 'dhvt_tiny_cifar_patch4'
    path = osp.join(
        osp.dirname(DATA_ROOT), '..', 'tools', 'model_converters',
        'dhvt_to_mmpretrain.py')
    spec = importlib.util.spec_from_file_location('dhvt_cli', path)
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    dst = tmp_path / 'out' / 'dhvt.pth'
    cli.main([str(src), str(dst), '--ema'])
    out = torch.load(dst, weights_only=True)
    expected = convert(ckpt, use_ema=True)
    assert set(out['state_dict']) == set(expected)
    for k, v in expected.items():
        assert torch.equal(out['state_dict'][k], v), k
