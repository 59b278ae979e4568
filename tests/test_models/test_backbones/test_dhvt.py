"""Tests of the DHVT backbone (tiny archs, tiny inputs, CPU)."""
import math
from collections import OrderedDict

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from helpers import check_norm_state, randomize

from vit_backbones.models.backbones import DHVT
from vit_backbones.models.utils import attention_as_matmul

# Exact parameter counts of the official models (spec hvt-dhvt.md §2.3),
# with the official head of ``num_classes`` outputs.
OFFICIAL_PARAMS = {
    'tiny-cifar-p4': (6_008_650, 100),
    'small-cifar-p4': (23_425_450, 100),
    'tiny-cifar-p2': (5_845_162, 100),
    'small-cifar-p2': (22_766_698, 100),
    'tiny-in1k-p16': (6_267_334, 1000),
    'small-in1k-p16': (24_040_606, 1000),
    'tiny-domainnet-p16': (6_105_975, 345),
    'small-domainnet-p16': (23_788_431, 345),
}
ALIASES = {
    'dhvt_tiny_cifar_patch4': 'tiny-cifar-p4',
    'dhvt_small_cifar_patch2': 'small-cifar-p2',
    'dhvt_tiny_imagenet_patch16': 'tiny-in1k-p16',
    'dhvt_small_domain_patch16': 'small-domainnet-p16',
    'S-IN1K-P16': 'small-in1k-p16',
    't-cifar-p2': 'tiny-cifar-p2',
}
# A small arch for fast tests: 4 blocks, 2 heads, patch 4.
TINY = dict(embed_dims=32, num_layers=4, num_heads=2, patch_size=4)
DENSE = dict(
    arch=TINY,
    out_type='featmap',
    out_indices=(0, 1, 2, 3),
    pyramid_scales=(4, 2, 1, 0.5))


def _params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize('arch', sorted(OFFICIAL_PARAMS))
def test_official_param_counts(arch):
    expected, num_classes = OFFICIAL_PARAMS[arch]
    with torch.device('meta'):
        model = DHVT(arch)
    head = model.embed_dims * num_classes + num_classes
    assert _params(model) + head == expected


@pytest.mark.parametrize('alias', sorted(ALIASES))
def test_aliases(alias):
    assert DHVT.arch_zoo[alias.lower()] == DHVT.arch_zoo[ALIASES[alias]]
    with torch.device('meta'):
        model = DHVT(alias)
    assert model.arch_settings == DHVT.arch_zoo[ALIASES[alias]]


def test_head_counts_depend_on_dataset():
    assert DHVT.arch_zoo['tiny-in1k-p16']['num_heads'] == 3
    assert DHVT.arch_zoo['tiny-domainnet-p16']['num_heads'] == 4
    assert DHVT.arch_zoo['tiny-cifar-p4']['num_heads'] == 4
    assert DHVT.arch_zoo['small-in1k-p16']['num_heads'] == 6
    assert DHVT.arch_zoo['small-cifar-p2']['num_heads'] == 8


def test_arch_errors():
    with pytest.raises(ValueError, match='tiny-in1k-p16'):
        DHVT('tiny')  # ambiguous: the names say dataset and patch size
    with pytest.raises(KeyError, match='patch_size'):
        DHVT(dict(embed_dims=32, num_layers=2, num_heads=2))
    with pytest.raises(ValueError, match='power of two'):
        DHVT({**TINY, 'patch_size': 6})
    with pytest.raises(ValueError, match='divisible by num_heads'):
        DHVT({**TINY, 'num_heads': 3})
    with pytest.raises(ValueError, match='out_type'):
        DHVT(TINY, out_type='cls')
    with pytest.raises(ValueError, match='one entry per'):
        DHVT(TINY, out_type='featmap', out_indices=(1, 3),
             pyramid_scales=(2, 1, 0.5))
    with pytest.raises(ValueError, match="out_type='featmap'"):
        DHVT(TINY, pyramid_scales=(1, ))
    with pytest.raises(ValueError, match='out of range'):
        DHVT(TINY, out_indices=(4, ))
    with pytest.raises(ValueError, match='frozen_stages'):
        DHVT(TINY, frozen_stages=5)


def test_cls_token_outputs():
    model = DHVT(TINY, out_indices=(1, -1)).eval()
    outs = model(torch.randn(2, 3, 16, 20))
    assert [tuple(o.shape) for o in outs] == [(2, 32), (2, 32)]
    assert model.num_features == [32, 32]
    # the last output is the final-LN class token
    assert torch.allclose(outs[1].mean(-1), torch.zeros(2) +
                          model.norm.bias.mean(), atol=1e-5)


def test_pyramid_pad_and_crop_are_exact():
    """DHVT never pads its input: the SOPE convolutions' own zero padding
    gives ceil(H/P) tokens, which is what the official model computes for
    such sizes (the 36x36 and 72x72 converter fixtures prove it). What is
    padded and cropped is the pyramid: the x0.5 branch of an odd grid must
    equal a ceil-mode max-pool and the up-sampled maps must be the crops of
    the full transposed convolutions."""
    torch.manual_seed(0)
    dense = DHVT(**DENSE).eval()
    plain = DHVT(TINY, out_type='featmap', out_indices=(0, 1, 2, 3)).eval()
    plain.load_state_dict(dense.state_dict(), strict=False)
    x = torch.randn(1, 3, 37, 21)  # 10x6 grid
    with torch.no_grad():
        maps = plain(x)
        outs = dense(x)
        ops = dense.pyramid.ops
        up4 = ops[0](maps[0])[..., :37, :21]
        up2 = ops[1](maps[1])[..., :19, :11]
        down = F.max_pool2d(maps[3], 2, 2, ceil_mode=True)
    torch.testing.assert_close(outs[0], up4)
    torch.testing.assert_close(outs[1], up2)
    torch.testing.assert_close(outs[2], maps[2])
    x = torch.randn(1, 3, 36, 20)  # 9x5 grid: odd
    with torch.no_grad():
        down = F.max_pool2d(plain(x)[3], 2, 2, ceil_mode=True)
        assert down.shape[-2:] == (5, 3)
        torch.testing.assert_close(dense(x)[3], down)


def test_sdpa_and_matmul_paths_agree():
    model = DHVT(TINY).eval()
    x = torch.randn(2, 3, 16, 12)
    with torch.no_grad():
        fused = model(x)[0]
        with attention_as_matmul():
            plain = model(x)[0]
    torch.testing.assert_close(fused, plain, rtol=1e-5, atol=1e-5)


def test_stages():
    assert DHVT.stage_ends(12) == [3, 5, 7, 11]
    assert DHVT.stage_ends(4) == [0, 1, 3]
    assert DHVT.stage_ends(2) == [0, 1]


def _frozen(module):
    return all(not p.requires_grad for p in module.parameters())


def _trainable(module):
    return all(p.requires_grad for p in module.parameters())


@pytest.mark.parametrize('frozen_stages', [-1, 0, 1, 2, 3])
def test_frozen_stages(frozen_stages):
    arch = dict(TINY, num_layers=6)  # stages end at blocks 1, 2, 3, 5
    model = DHVT(
        arch,
        out_type='featmap',
        out_indices=(1, 2, 3, 5),
        pyramid_scales=(4, 2, 1, 0.5),
        out_norm_cfg=dict(type='LN', eps=1e-6),
        frozen_stages=frozen_stages)
    model.train()
    ends = DHVT.stage_ends(6)
    assert ends == [1, 2, 3, 5]
    stem_frozen = frozen_stages >= 0
    assert _frozen(model.patch_embed) == stem_frozen
    assert model.cls_token.requires_grad != stem_frozen
    assert check_norm_state(model.patch_embed.modules(), not stem_frozen)
    last_frozen_block = ends[frozen_stages - 1] if frozen_stages > 0 else -1
    for i, layer in enumerate(model.layers):
        if i <= last_frozen_block:
            assert _frozen(layer) and not layer.training
            assert check_norm_state(layer.modules(), False)
        else:
            assert _trainable(layer) and layer.training
    # Block 5 has the final norm instead of an output norm.
    assert not hasattr(model, 'norm5')
    for stage, end in enumerate(ends[:-1], start=1):
        norm = getattr(model, f'norm{end}')
        assert _frozen(norm) == (stage <= frozen_stages)
    # the pyramid is never frozen, the final norm goes with the last stage
    assert _trainable(model.pyramid) and model.pyramid.training
    assert _trainable(model.norm)
    model = DHVT(arch, frozen_stages=4)
    model.train()
    assert _frozen(model.norm) and all(_frozen(m) for m in model.layers)


def test_every_parameter_is_in_the_graph_in_dense_mode():
    """DDP needs every parameter in the autograd graph. The last block's
    squeeze-excitation only re-weights the class token, which dense outputs
    drop, but the drop is a slice: its gradient is zero, not missing."""
    model = DHVT(**DENSE)
    model.train()
    sum(o.sum() for o in model(torch.randn(2, 3, 16, 16))).backward()
    assert all(p.grad is not None for p in model.parameters())
    zero = {n for n, p in model.named_parameters() if not p.grad.any()}
    assert zero == {
        'layers.3.ffn.se_reduce.weight', 'layers.3.ffn.se_reduce.bias',
        'layers.3.ffn.se_expand.weight', 'layers.3.ffn.se_expand.bias'
    }


def test_init_weights():
    torch.manual_seed(0)
    model = DHVT(dict(embed_dims=64, num_layers=2, num_heads=2,
                      patch_size=16))
    model.init_weights()
    for name, param in model.named_parameters():
        if name.endswith('head_embed') or name == 'cls_token' or (
                name.endswith('weight') and param.dim() == 2):
            assert 0.01 < param.std() < 0.03, name  # trunc-normal(.02)
    assert all((m.bias == 0).all() for m in model.modules()
               if isinstance(m, nn.Linear))


def test_get_layer_depth():
    model = DHVT(**DENSE)
    assert model.get_layer_depth('backbone.cls_token', 'backbone.') == (0, 6)
    assert model.get_layer_depth(
        'backbone.patch_embed.convs.0.conv.weight', 'backbone.') == (0, 6)
    assert model.get_layer_depth('backbone.layers.0.ln1.weight',
                                 'backbone.') == (1, 6)
    assert model.get_layer_depth('backbone.layers.3.attn.head_embed',
                                 'backbone.') == (4, 6)
    assert model.get_layer_depth('backbone.norm.weight', 'backbone.') == (5, 6)
    assert model.get_layer_depth('backbone.pyramid.ops.0.0.weight',
                                 'backbone.') == (5, 6)
    assert model.get_layer_depth('head.fc.weight', 'backbone.') == (5, 6)


def test_norm_cfgs():
    model = DHVT(TINY, norm_cfg=dict(type='GN', num_groups=4),
                 stem_norm_cfg=dict(type='BN', momentum=0.2))
    assert isinstance(model.layers[0].ffn.norm1, nn.GroupNorm)
    assert model.patch_embed.convs[0].norm.momentum == 0.2
    assert model.layers[0].ln1.eps == 1e-6
    assert model.layers[0].attn.head_norm.eps == 1e-5


@pytest.mark.parametrize('patch_size,acts', [(2, 1), (4, 1), (16, 3)])
def test_sope_structure(patch_size, acts):
    """GELU between the convolutions, after the last only for patch 2."""
    model = DHVT(dict(TINY, embed_dims=64, patch_size=patch_size))
    convs = model.patch_embed.convs
    assert len(convs) == int(math.log2(patch_size))
    assert [c.conv.out_channels for c in convs] == [
        64 // 2**(len(convs) - 1 - i) for i in range(len(convs))]
    assert all(c.conv.bias is None and c.conv.stride == (2, 2)
               for c in convs)
    calls = []
    model.patch_embed.act.register_forward_hook(
        lambda *args: calls.append(1))
    model.eval()(torch.randn(1, 3, patch_size * 2, patch_size * 2))
    assert len(calls) == acts


@pytest.mark.parametrize('dtype', [torch.bfloat16])
def test_low_precision_is_finite(dtype):
    model = DHVT(**DENSE).eval().to(dtype)
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 20, 24, dtype=dtype))
    assert all(torch.isfinite(o).all() for o in outs)


def test_checkpoints_of_the_ln1_layout_still_load(tmp_path):
    """``_version`` 2 renamed the final norm ``ln1`` -> ``norm``; files
    written before (converted ones have no version metadata, saved state
    dicts have version 1) load unchanged, strictly and through
    ``Pretrained``; files of the new layout are not touched."""
    from mmengine.runner import save_checkpoint
    source = randomize(DHVT(TINY))
    new = source.state_dict()
    old = OrderedDict((k.replace('norm.', 'ln1.', 1)
                       if k.startswith('norm.') else k, v)
                      for k, v in new.items())
    assert 'ln1.weight' in old and 'layers.0.ln1.weight' in old
    old_v1 = OrderedDict(old)
    old_v1._metadata = OrderedDict({'': {'version': 1}})
    for state in (old, old_v1, new):
        model = DHVT(TINY)
        model.load_state_dict(state, strict=True)
        for key, value in new.items():
            torch.testing.assert_close(model.state_dict()[key], value)
    assert DHVT(TINY).state_dict()._metadata['']['version'] == 2
    path = str(tmp_path / 'old.pth')
    save_checkpoint({'state_dict': {'backbone.' + k: v
                                    for k, v in old.items()}}, path)
    model = DHVT(TINY, init_cfg=dict(type='Pretrained', checkpoint=path,
                                     prefix='backbone.'))
    model.init_weights()
    torch.testing.assert_close(model.norm.weight, source.norm.weight)
