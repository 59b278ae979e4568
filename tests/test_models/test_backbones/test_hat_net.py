"""Tests of the HAT-Net backbone (vit_backbones.models.backbones.hat_net).

Parity with the official code is tested in
tests/test_converters/test_hat_net_converter.py (fixtures produced by the
official ``HAT_Net.py``); here: arch zoo and exact official parameter
counts, output shapes at any size, the padding design against a reference
that never pads, the OpenMMLab features and the errors.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from helpers import count_params, randomize

from vit_backbones.models.backbones.hat_net import (HATNet, HATNetAttention,
                                                    _tile_key_bias)
from vit_backbones.models.utils.attention import attention_as_matmul

# A small arch for fast tests (the published ones are counted on meta).
FAST = dict(
    embed_dims=[16, 32, 48, 64],
    depths=[1, 1, 2, 1],
    head_dim=16,
    mlp_ratios=[2, 2, 2, 2],
    kernel_sizes=[3, 5, 3, 3])
DENSE = dict(grid_sizes=(8, 8, 8, 1), ds_ratios=(16, 8, 4, 1))

# Parameters of the official HAT_Net_{tiny,small,medium,large}() with the
# 1000-class classifier (HAT_Net.py @ 4b2e7bf, counted with
# sum(p.numel() for p in model.parameters())).
OFFICIAL_PARAMS = dict(
    tiny=12_655_912, small=25_747_784, medium=42_942_472, large=63_132_488)


@pytest.mark.parametrize('arch', ['tiny', 'small', 'medium', 'large'])
def test_official_param_counts(arch):
    with torch.device('meta'):
        model = HATNet(arch=arch)
    head = model.embed_dims[-1] * 1000 + 1000
    assert count_params(model) + head == OFFICIAL_PARAMS[arch]


def test_arch_zoo():
    zoo = HATNet.arch_zoo
    for short, long in [('t', 'tiny'), ('s', 'small'), ('m', 'medium'),
                        ('l', 'large')]:
        assert zoo[short] == zoo[long]
    assert zoo['tiny']['head_dim'] == 48
    assert zoo['medium']['kernel_sizes'] == [5, 3, 5, 3]
    assert zoo['large']['embed_dims'] == [64, 128, 320, 640]
    with torch.device('meta'):
        model = HATNet(arch='T', out_indices=(0, 1, 2, 3))
    assert model.out_channels == [48, 96, 240, 384]
    assert model.num_features == [48, 96, 240, 384]
    assert model.stages[3].blocks[0].attn.num_heads == 8
    assert not hasattr(model.stages[3].blocks[0].attn, 'q')
    assert model.stages[0].downsample is None


def test_arch_errors():
    with pytest.raises(ValueError, match='tiny'):
        HATNet(arch='huge')
    bad = dict(FAST)
    bad.pop('head_dim')
    with pytest.raises(KeyError, match='head_dim'):
        HATNet(arch=bad)
    with pytest.raises(ValueError, match='multiples of head_dim'):
        HATNet(arch=dict(FAST, head_dim=12))
    with pytest.raises(ValueError, match='4 entries'):
        HATNet(arch=FAST, grid_sizes=(8, 7, 1))
    with pytest.raises(ValueError, match='positive integers'):
        HATNet(arch=FAST, ds_ratios=(8, 0, 2, 1))
    with pytest.raises(ValueError, match='out of range'):
        HATNet(arch=FAST, out_indices=(4, ))
    with pytest.raises(ValueError, match='frozen_stages'):
        HATNet(arch=FAST, frozen_stages=5)


# --- padding design -------------------------------------------------------


def reference_attention(attn, x):
    """H-MHSA computed without any padding: dense attention over the whole
    map with a block mask for the tiles (truncated at the border) and an
    explicit mean over each (truncated) pooling window."""
    b, c, h, w = x.shape
    heads, hd = attn.num_heads, attn.head_dim

    def split(t, parts):
        t = t.reshape(b, parts, heads, hd, -1).permute(1, 0, 2, 4, 3)
        return t.unbind(0)

    def attend(q, k, v, mask=None):
        scores = q @ k.transpose(-2, -1) * hd**-0.5
        if mask is not None:
            scores = scores.masked_fill(~mask, float('-inf'))
        out = scores.softmax(-1) @ v
        return out.transpose(-2, -1).reshape(b, c, h, w)

    qkv = attn.qkv(attn.norm(x))
    q, k, v = split(qkv, 3)
    if attn.grid_size == 1:
        return attn.proj(attend(q, k, v))
    rows = torch.arange(h).repeat_interleave(w)
    cols = torch.arange(w).repeat(h)
    tile = (rows // attn.grid_size) * w + cols // attn.grid_size
    local = attend(q, k, v, tile[:, None] == tile[None, :])
    a1 = attn.grid_norm(x + local)
    window = (rows // attn.ds_ratio) * w + cols // attn.ds_ratio
    ids = window.unique()
    member = (window[None, :] == ids[:, None]).float()  # (L, N)
    ph, pw = math.ceil(h / attn.ds_ratio), math.ceil(w / attn.ds_ratio)
    pooled = (a1.flatten(2) @ member.t()) / member.sum(1)
    pooled = pooled.reshape(b, c, ph, pw)
    q2, = split(attn.q(a1), 1)
    k2, v2 = split(attn.kv(attn.ds_norm(pooled)), 2)
    return attn.proj(attend(q2, k2, v2) + a1)


@pytest.mark.parametrize('grid,ds,size', [(4, 3, (10, 13)), (8, 16, (20, 9)),
                                          (7, 4, (14, 28)), (1, 1, (5, 7)),
                                          (8, 8, (5, 3))])
def test_attention_padding_is_invisible(grid, ds, size):
    attn = randomize(HATNetAttention(32, 16, grid_size=grid, ds_ratio=ds))
    x = torch.randn(2, 32, *size)
    with torch.no_grad():
        ours = attn(x)
        ref = reference_attention(attn, x)
        with attention_as_matmul():
            matmul = attn(x)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(matmul, ref, atol=1e-5, rtol=1e-5)


def test_network_padding_is_invisible(monkeypatch):
    """Whole network at sizes that need padding in every H-MHSA stage
    equals the same network with every attention replaced by the
    never-padding reference."""
    model = randomize(HATNet(arch=FAST, out_indices=(0, 1, 2, 3),
                             **DENSE)).eval()
    x = torch.randn(1, 3, 200, 120)  # stage maps 50x30, 25x15, 13x8, 7x4
    with torch.no_grad():
        ours = model(x)
        monkeypatch.setattr(HATNetAttention, 'forward', reference_attention)
        ref = model(x)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_official_sizes_need_no_padding():
    """At sizes the official code accepts, nothing is padded or masked:
    the computation is the official one (fixture parity in the converter
    tests), and the pooling equals the official floor-mode AvgPool2d."""
    assert _tile_key_bias(56, 56, 8, torch.device('cpu'),
                          torch.float32) is None
    assert _tile_key_bias(28, 28, 7, torch.device('cpu'),
                          torch.float32) is None
    attn = HATNetAttention(32, 16, grid_size=8, ds_ratio=4)
    x = torch.randn(1, 32, 16, 24)
    torch.testing.assert_close(attn.pool(x), F.avg_pool2d(x, 4, 4))


def test_tile_mask():
    bias = _tile_key_bias(10, 13, 4, torch.device('cpu'), torch.float32)
    # 3 x 4 tiles of 16 keys; the last tile row keeps rows 8-9 only.
    assert bias.shape == (12, 1, 16)
    keep = bias == 0
    assert keep[0].all()
    assert keep[3].reshape(4, 4)[:, :1].all()  # column 12 only
    assert not keep[3].reshape(4, 4)[:, 1:].any()
    assert keep[8].reshape(
        4, 4)[:2].all() and not keep[8].reshape(4, 4)[2:].any()
    assert keep.reshape(12, 16).any(1).all()  # never a fully masked tile
    assert _tile_key_bias(10, 13, 4, torch.device('cpu'),
                          torch.float32) is bias  # cached


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_padding_low_precision_is_finite(dtype):
    attn = randomize(HATNetAttention(32, 16, grid_size=4, ds_ratio=3))
    attn = attn.to(dtype)
    x = torch.randn(1, 32, 9, 11, dtype=dtype)
    with torch.no_grad():
        out = attn(x)
    assert out.dtype == dtype and torch.isfinite(out).all()


def test_padded_input_differs_by_design():
    """Zero-padding the *input* (as a data preprocessor does) is not
    invisible: GroupNorm statistics and the global keys span the padded
    map. This is the network's semantics (the official model behaves the
    same); only the internal padding is masked."""
    model = randomize(HATNet(arch=FAST, out_indices=(0, ), **DENSE)).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        plain = model(x)[0]
        padded = model(F.pad(x, (0, 32, 0, 32)))[0][..., :16, :16]
    assert not torch.allclose(plain, padded, atol=1e-3)


# --- OpenMMLab features ---------------------------------------------------


def test_frozen_stages():
    model = HATNet(
        arch=FAST,
        out_indices=(0, 1, 2, 3),
        out_norm_cfg=dict(type='BN'),
        frozen_stages=2)
    model.train()
    frozen = [
        model.patch_embed, model.stages[0], model.stages[1], model.norm0,
        model.norm1
    ]
    for module in frozen:
        assert not module.training
        assert all(not p.requires_grad for p in module.parameters())
    for module in [model.stages[2], model.stages[3], model.norm2]:
        assert module.training
        assert all(p.requires_grad for n, p in module.named_parameters()
                   if 'proj_norm' not in n)
    # stage 1 includes the downsampling layer that leads into it
    assert not model.stages[1].downsample.conv.weight.requires_grad

    model = HATNet(arch=FAST, frozen_stages=0).train()
    assert not model.patch_embed.training
    assert all(p.requires_grad for n, p in model.stages.named_parameters()
               if 'proj_norm' not in n)


def test_every_trainable_parameter_gets_a_gradient():
    """The unused ``proj_norm`` (kept for the official weights) is frozen,
    everything else is used: DDP needs no find_unused_parameters."""
    model = HATNet(arch=FAST, out_indices=(0, 1, 2, 3), **DENSE).train()
    sum(o.sum() for o in model(torch.randn(1, 3, 64, 64))).backward()
    for name, p in model.named_parameters():
        assert p.requires_grad == ('proj_norm' not in name), name
        assert (p.grad is not None) == p.requires_grad, name


@pytest.mark.parametrize('frozen_stages,asks', [(0, True), (1, False)])
def test_frozen_stem_workaround_only_before_the_first_stage(
        frozen_stages, asks):
    """After a frozen stem the first stage's input is made to need a
    gradient (CPU channels-last GroupNorm backward segfaults without it);
    a later first trainable stage begins with its downsampling conv and is
    left alone, so no unused input gradient is computed through it."""
    model = HATNet(arch=FAST, frozen_stages=frozen_stages).train()
    first = model.stages[frozen_stages]
    seen = []
    first.register_forward_pre_hook(
        lambda module, args: seen.append(args[0].requires_grad))
    sum(o.sum() for o in model(torch.randn(1, 3, 64, 64))).backward()
    assert seen == [asks]


def test_inplace_activations_only_where_no_graph_is_recorded():
    """In-place SiLU makes autograd copy its input: out of place in train
    mode (not in frozen stages, which are in eval), in place in eval mode,
    with the same outputs and gradients either way."""
    model = HATNet(arch=FAST, out_indices=(0, 1, 2, 3), frozen_stages=0)
    acts = {n: m for n, m in model.named_modules()
            if isinstance(m, torch.nn.SiLU)}
    assert acts and not any(a.inplace for n, a in acts.items()
                            if not n.startswith('patch_embed'))
    assert acts['patch_embed.act'].inplace  # frozen: in eval mode
    model.eval()
    assert all(a.inplace for a in acts.values())
    model.train()
    assert not acts['stages.0.blocks.0.mlp.act1'].inplace
    plain = HATNet(arch=FAST, act_cfg=dict(type='SiLU')).eval()
    assert not plain.stages[0].blocks[0].mlp.act1.inplace

    randomize(model)
    x = torch.randn(2, 3, 64, 64)
    results = []
    for inplace in (False, True):
        for act in acts.values():
            act.inplace = inplace
        model.zero_grad()
        outs = model(x)
        sum((o * o).sum() for o in outs).backward()
        results.append(([o.detach() for o in outs],
                        [p.grad.clone() for p in model.parameters()
                         if p.grad is not None]))
    for a, b in zip(*[r[0] + r[1] for r in results]):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_drop_path_schedule():
    model = HATNet(arch=FAST, drop_path_rate=0.3)
    rates = [
        getattr(block.drop_path, 'drop_prob', 0.) for stage in model.stages
        for block in stage.blocks
    ]
    expected = torch.linspace(0, 0.3, sum(FAST['depths'])).tolist()
    assert rates == pytest.approx(expected)


def test_default_init():
    model = HATNet(arch=FAST)
    model.init_weights()
    attn = model.stages[0].blocks[0].attn
    assert torch.all(attn.norm.weight == 1) and torch.all(attn.norm.bias == 0)
    assert torch.all(attn.qkv.bias == 0)
    weight = model.stages[2].blocks[0].mlp.fc1.weight
    assert 0.01 < weight.std().item() < 0.03
    assert weight.abs().max().item() <= 2.  # truncated at +-2


def test_get_layer_depth():
    model = HATNet(
        arch=FAST,
        out_indices=(0, 1, 2, 3),
        out_norm_cfg=dict(type='GN', num_groups=1))
    num_layers = sum(FAST['depths']) + 2  # 7
    cases = {
        'backbone.patch_embed.conv1.weight': 0,
        'backbone.stages.0.blocks.0.attn.qkv.weight': 1,
        'backbone.stages.1.downsample.conv.weight': 1,
        'backbone.stages.1.blocks.0.mlp.fc1.weight': 2,
        'backbone.stages.2.blocks.1.attn.q.bias': 4,
        'backbone.stages.3.blocks.0.mlp.dwconv.weight': 5,
        'backbone.norm1.weight': 2,
        'backbone.norm3.bias': 5,
        'head.fc.weight': 6,
    }
    for name, depth in cases.items():
        assert model.get_layer_depth(name,
                                     'backbone.') == (depth, num_layers), name
    names = dict(model.named_parameters())
    assert all(model.get_layer_depth(n)[0] < num_layers - 1 for n in names)


def test_build_from_registry_in_other_scopes():
    from mmengine.registry import DefaultScope

    from mmpretrain.registry import MODELS
    for scope in ('mmdet', 'mmseg'):
        with DefaultScope.overwrite_default_scope(scope):
            from mmengine.registry import MODELS as ROOT
            model = ROOT.build(
                dict(type='mmpretrain.HATNet', arch=FAST, out_indices=(3, )))
        assert isinstance(model, HATNet)
    assert MODELS.get('HATNet') is HATNet
