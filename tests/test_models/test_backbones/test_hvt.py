"""Tests of the HVT backbone (both pooling modes)."""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from helpers import count_params

from vit_backbones.models.backbones import HVT
from vit_backbones.models.backbones.hvt import pooled_length
from vit_backbones.models.utils import attention_as_matmul

# Official parameter counts with the 1000-class head (spec hvt-dhvt.md §1.3,
# recomputed from the official code) and the paper's 100-class CIFAR models.
OFFICIAL_PARAMS_IN1K = {
    'ti-1': 5_735_656,
    's-0': 22_049_896,
    's-1': 22_087_144,
    's-2': 22_105_576,
    's-3': 22_114_408,
    's-4': 22_118_632,
    'scale-ti-4': 22_118_632,
}
# HVT-S-2 (2D), Table 9: 21.80M (spec: 21.802M); HVT-Ti-4, Table 6: 5.58M.
PAPER_PARAMS_CIFAR100 = {'s-2-2d': 21_802_084, 'ti-4': 5_577_700}

# Small archs for the behavioural tests.
TINY_1D = dict(
    embed_dims=32, num_layers=4, num_heads=2, patch_size=16,
    pool_blocks=(0, 2))
TINY_2D = dict(TINY_1D, patch_size=8, pool_mode='2d')


def _meta_params(arch, num_classes, **kwargs):
    with torch.device('meta'):
        model = HVT(arch=arch, **kwargs)
    d = model.embed_dims
    return count_params(model) + d * num_classes + num_classes


def _no_drop(**kwargs):
    return dict(drop_path_rate=0., **kwargs)


@pytest.mark.parametrize('arch,params', sorted(OFFICIAL_PARAMS_IN1K.items()))
def test_official_param_counts(arch, params):
    assert _meta_params(arch, 1000) == params


@pytest.mark.parametrize('arch,params',
                         sorted(PAPER_PARAMS_CIFAR100.items()))
def test_paper_param_counts(arch, params):
    assert _meta_params(arch, 100) == params


def test_arch_aliases_and_pool_schedule():
    zoo = HVT.arch_zoo
    assert zoo['s-4'] == zoo['scale-ti-4'] == zoo['scale-hvt-ti-4']
    assert zoo['hvt-s-2-2d'] == zoo['s-2-2d']
    # The official rule: blocks i with i % pool_block_width == 0.
    for arch, width in [('ti-1', 12), ('s-1', 12), ('s-2', 6), ('s-3', 4),
                        ('s-4', 3)]:
        official = tuple(i for i in range(12) if i % width == 0)
        assert tuple(zoo[arch]['pool_blocks']) == official
        with torch.device('meta'):
            model = HVT(
                arch=dict(
                    embed_dims=384,
                    num_layers=12,
                    num_heads=6,
                    patch_size=16,
                    pool_block_width=width))
        assert model.pool_blocks == official
    with torch.device('meta'):
        s4 = HVT('s-4')
        s0 = HVT({
            **{k: v
               for k, v in zoo['s-1'].items() if k != 'pool_blocks'},
            'pool_block_width': 0
        })
    assert [p.resolution for p in s4.pools] == [97, 48, 23, 11]
    assert s0.pool_blocks == () and len(s0.pools) == 0
    with torch.device('meta'):
        s2d = HVT('s-2-2d')
    assert s2d.pool_mode == '2d' and s2d.patch_size == 8
    assert [p.resolution for p in s2d.pools] == [(14, 14), (7, 7)]
    assert pooled_length(196, 3) == 97


def test_drop_path_schedule():
    with torch.device('meta'):
        model = HVT('s-1', drop_path_rate=0.1)
    assert isinstance(model.layers[0].drop_path, nn.Identity)
    assert model.layers[-1].drop_path.drop_prob == pytest.approx(0.1)
    assert model.layers[6].ffn.dropout_layer.drop_prob == pytest.approx(
        0.1 * 6 / 11)


def test_bad_arguments():
    with pytest.raises(ValueError, match='Unknown HVT arch'):
        HVT('s-9')
    with pytest.raises(KeyError, match='num_heads'):
        HVT(dict(embed_dims=32, num_layers=2, patch_size=16, pool_blocks=()))
    with pytest.raises(KeyError, match='pool_blocks'):
        HVT(dict(embed_dims=32, num_layers=2, num_heads=2, patch_size=16))
    with pytest.raises(ValueError, match='pool_blocks'):
        HVT(dict(TINY_1D, pool_blocks=(0, 3)))  # after the last block
    with pytest.raises(ValueError, match='pool_mode'):
        HVT(TINY_1D, pool_mode='3d')
    with pytest.raises(ValueError, match='out_type'):
        HVT(TINY_1D, out_type='cls_token')
    with pytest.raises(ValueError, match='out of range'):
        HVT(TINY_1D, out_indices=(4, ))
    with pytest.raises(ValueError, match='one entry per'):
        HVT(TINY_1D, out_type='featmap', out_indices=(1, 3),
            pyramid_scales=(1, ))
    with pytest.raises(ValueError, match="out_type='featmap'"):
        HVT(TINY_1D, out_indices=(1, 3), pyramid_scales=(1, 1))
    with pytest.raises(ValueError, match='duplicates'):
        HVT(TINY_1D, out_type='featmap', out_indices=(1, 1))
    with pytest.raises(ValueError, match='frozen_stages'):
        HVT(TINY_1D, frozen_stages=4)


def test_1d_pooling_needs_enough_tokens():
    """Beyond the contract's minimum (one patch per side), every 1-D pool
    needs ``kernel`` tokens."""
    model = HVT(TINY_1D)
    # Two 1-D pools need 7 tokens: 2x2 = 4 is too few, 2x4 is enough.
    with pytest.raises(ValueError, match='at least 7 patch tokens'):
        model(torch.rand(1, 3, 32, 32))
    assert model(torch.rand(1, 3, 32, 64))[0].shape == (1, 32)
    with torch.device('meta'):
        s4 = HVT('s-4')
    assert s4.min_tokens == 31
    # The pyramid's max-pools run in ceil mode: one cell is enough.
    pyr = HVT(TINY_1D, out_type='featmap', out_indices=(1, 3),
              pyramid_scales=(1, 0.5))
    assert pyr.min_size == (16, 16)
    outs = pyr(torch.rand(1, 3, 16, 160))
    assert [o.shape[-2:] for o in outs] == [(1, 10), (1, 5)]


def test_classification_output_is_token_mean():
    torch.manual_seed(0)
    model = HVT(TINY_1D, img_size=(64, 80), **_no_drop()).eval()
    model.init_weights()
    x = torch.rand(2, 3, 64, 80)
    (out, ) = model(x)
    assert out.shape == (2, 32)
    # Reference: run the pieces by hand (pool at the end of blocks 0 and 2).
    with torch.no_grad():
        t, hw = model.patch_embed(x)
        t = t + model.pos_embed
        t = model.layers[0](t)
        t = F.max_pool1d(t.transpose(1, 2), 3, 2).transpose(1, 2)
        t = t + model.pools[0].pos_embed
        t = model.layers[2](model.layers[1](t))
        t = F.max_pool1d(t.transpose(1, 2), 3, 2).transpose(1, 2)
        t = t + model.pools[1].pos_embed
        ref = model.norm(model.layers[3](t)).mean(1)
        assert t.shape[1] == pooled_length(pooled_length(20, 3), 3) == 4
    torch.testing.assert_close(out, ref)


def test_1d_featmap_is_stretched_sequence():
    """Block outputs are taken before the block's pool; pooled sequences are
    interpolated back to the patch-grid length (paper Fig. 3)."""
    model = HVT(TINY_1D, out_type='featmap', out_indices=(0, 1),
                **_no_drop()).eval()
    seen = {}
    model.layers[0].register_forward_hook(
        lambda m, i, o: seen.__setitem__(0, o))
    model.layers[1].register_forward_hook(
        lambda m, i, o: seen.__setitem__(1, o))
    x = torch.rand(1, 3, 64, 80)
    with torch.no_grad():
        out0, out1 = model(x)
    # Block 0's output is the 4x5 grid itself (the pool comes after it).
    torch.testing.assert_close(out0.flatten(2).transpose(1, 2), seen[0])
    assert seen[1].shape[1] == 9
    ref = F.interpolate(
        seen[1].transpose(1, 2), size=20, mode='linear',
        align_corners=False).reshape(1, 32, 4, 5)
    torch.testing.assert_close(out1, ref)


def test_2d_pooling_is_grid_max_pool():
    model = HVT(TINY_2D, out_type='featmap', out_indices=(0, 1),
                **_no_drop()).eval()
    x = torch.rand(1, 3, 40, 72)
    with torch.no_grad():
        out0, out1 = model(x)
        grid = F.max_pool2d(out0, 3, 2, 1)
        tokens = grid.flatten(2).transpose(1, 2)
        pos = model.pools[0].resized_pos_embed(tuple(grid.shape[-2:]))
        ref = model.layers[1](tokens + pos)
    assert out0.shape[-2:] == (5, 9) and grid.shape[-2:] == (3, 5)
    torch.testing.assert_close(out1.flatten(2).transpose(1, 2), ref)


@pytest.mark.parametrize('arch', [TINY_1D, TINY_2D])
def test_padding_equivalence(arch):
    """Inputs are padded at the bottom/right to a multiple of the patch size:
    an odd-sized input equals the same input zero-padded by hand."""
    model = HVT(arch, out_type='featmap', out_indices=(0, 1, 3),
                **_no_drop()).eval()
    x = torch.rand(1, 3, 70, 90)
    p = arch['patch_size']
    padded = F.pad(x, (0, -90 % p, 0, -70 % p))
    with torch.no_grad():
        for a, b in zip(model(x), model(padded)):
            torch.testing.assert_close(a, b)


@pytest.mark.parametrize('arch', [TINY_1D, TINY_2D])
def test_other_input_size_matches_resized_checkpoint(arch):
    """Running at another size resizes the position embeddings on the fly
    exactly as loading the checkpoint into a model built for that size."""
    src = HVT(arch, img_size=64, **_no_drop()).eval()
    src.init_weights()
    dst = HVT(arch, img_size=96, **_no_drop()).eval()
    dst.load_state_dict(src.state_dict())
    assert dst.pos_embed.shape[1] == (96 // arch['patch_size'])**2
    for a, b in zip(src.pools, dst.pools):
        assert b.pos_embed.shape[1] > a.pos_embed.shape[1]
    x = torch.rand(1, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(src(x)[0], dst(x)[0])


def test_attention_paths_agree():
    model = HVT(TINY_1D, out_type='featmap', out_indices=(1, 3),
                **_no_drop()).eval()
    x = torch.rand(1, 3, 48, 64)
    with torch.no_grad():
        fused = model(x)
        with attention_as_matmul():
            plain = model(x)
    for a, b in zip(fused, plain):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_init_weights():
    torch.manual_seed(0)
    model = HVT(dict(TINY_1D, embed_dims=64), out_type='featmap',
                out_indices=(1, 3), out_norm_cfg=dict(type='LN', eps=1e-6))
    conv = model.patch_embed.projection.weight.clone()
    model.init_weights()
    # The patch convolution keeps PyTorch's default init (official code).
    torch.testing.assert_close(model.patch_embed.projection.weight, conv)
    qkv = model.layers[0].attn.qkv
    assert abs(qkv.weight.std().item() - 0.02) < 0.003
    assert torch.all(qkv.bias == 0)
    assert torch.all(model.norm1.weight == 1)
    for pos in [model.pos_embed] + [p.pos_embed for p in model.pools]:
        assert 0.01 < pos.std().item() < 0.03


@pytest.mark.parametrize('mode', ['1d', '2d'])
def test_frozen_stages(mode):
    arch = TINY_1D if mode == '1d' else TINY_2D
    # Stages: stem; block 0 + pool 0; blocks 1-2 + pool 1; block 3 + norm.
    model = HVT(arch, out_type='featmap', out_indices=(0, 2, 3),
                out_norm_cfg=dict(type='LN', eps=1e-6), frozen_stages=2)
    assert model.stage_blocks() == [[0], [1, 2], [3]]
    model.train()
    frozen = [model.patch_embed, model.layers[0], model.layers[1],
              model.layers[2], model.pools[0], model.pools[1], model.norm0,
              model.norm2]
    for module in frozen:
        assert not module.training
        assert all(not p.requires_grad for p in module.parameters())
    assert not model.pos_embed.requires_grad
    for module in [model.layers[3], model.norm]:
        assert module.training
        assert all(p.requires_grad for p in module.parameters())
    stem = HVT(arch, frozen_stages=0)
    stem.train()
    assert not stem.pos_embed.requires_grad
    assert not stem.patch_embed.projection.weight.requires_grad
    assert stem.layers[0].training
    assert all(p.requires_grad for p in stem.layers[0].parameters())
    assert all(p.requires_grad for p in stem.pools.parameters())
    with torch.device('meta'):
        HVT('s-0', frozen_stages=1)
        HVT('s-4', frozen_stages=5)
        with pytest.raises(ValueError):
            HVT('s-0', frozen_stages=2)


def test_pretrained_prefix_round_trip(tmp_path):
    """A classifier checkpoint loads into a dense backbone: only the
    det-only layers (output norms, pyramid) are new, and init_weights does
    not overwrite the loaded weights."""
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint, save_checkpoint
    from mmpretrain.models import ImageClassifier
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    classifier = ImageClassifier(
        backbone=dict(type='HVT', arch=TINY_1D),
        head=dict(type='LinearClsHead', num_classes=5, in_channels=32))
    classifier.init_weights()
    ckpt = str(tmp_path / 'hvt_cls.pth')
    save_checkpoint(classifier.state_dict(), ckpt)

    dense = HVT(
        TINY_1D,
        out_type='featmap',
        out_indices=(0, 1, 2, 3),
        pyramid_scales=(4, 2, 1, 0.5),
        out_norm_cfg=dict(type='LN', eps=1e-6),
        init_cfg=dict(type='Pretrained', checkpoint=ckpt,
                      prefix='backbone.'))
    dense.init_weights()
    loaded = dense.state_dict()
    for key, value in classifier.backbone.state_dict().items():
        torch.testing.assert_close(loaded[key], value, msg=key)
    new_keys = set(loaded) - set(classifier.backbone.state_dict())
    assert new_keys and all(
        k.startswith(('pyramid.', 'norm0.', 'norm1.', 'norm2.'))
        for k in new_keys)

    # The same checkpoint loads into a model built for another input size.
    other = HVT(TINY_1D, img_size=128)
    load_checkpoint(other, ckpt, revise_keys=[(r'^backbone\.', '')],
                    strict=False)
    assert other.pos_embed.shape[1] == 64


def test_get_layer_depth():
    with torch.device('meta'):
        model = HVT('s-3')
    depth = model.get_layer_depth
    assert depth('backbone.pos_embed', 'backbone.') == (0, 14)
    assert depth('backbone.patch_embed.projection.weight',
                 'backbone.') == (0, 14)
    assert depth('backbone.layers.0.ln1.weight', 'backbone.') == (1, 14)
    assert depth('backbone.layers.11.ffn.layers.1.bias',
                 'backbone.') == (12, 14)
    # pools.m.pos_embed belongs to the m-th pooling block (blocks 0, 4, 8).
    assert depth('backbone.pools.1.pos_embed', 'backbone.') == (5, 14)
    assert depth('backbone.norm.weight', 'backbone.') == (13, 14)
    assert depth('head.fc.weight', 'backbone.') == (13, 14)
    assert depth('pools.2.pos_embed') == (9, 14)


def test_backbone_in_layer_decay_constructor():
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmpretrain.models import ImageClassifier
    init_default_scope('mmpretrain')
    model = ImageClassifier(
        backbone=dict(type='HVT', arch=TINY_1D),
        head=dict(type='LinearClsHead', num_classes=5, in_channels=32))
    wrapper = build_optim_wrapper(
        model,
        dict(
            optimizer=dict(type='AdamW', lr=1.0, weight_decay=0.05),
            constructor='LearningRateDecayOptimWrapperConstructor',
            paramwise_cfg=dict(layer_decay_rate=0.5)))
    lrs = {g['param_name'] if 'param_name' in g else id(g): g['lr']
           for g in wrapper.optimizer.param_groups}
    assert max(lrs.values()) == pytest.approx(1.0)
    assert min(lrs.values()) == pytest.approx(0.5**5)


def test_flops_paper_convention():
    """The paper's FLOPs count linears, convolutions and the attention
    matmuls (HVT-Ti-1: 0.64G, HVT-S-4: 1.39G); norms are left out."""
    from vit_backbones.tools.complexity import count_flops

    class WithHead(nn.Module):

        def __init__(self, arch):
            super().__init__()
            self.backbone = HVT(arch)
            self.head = nn.Linear(self.backbone.embed_dims, 1000)

        def forward(self, x):
            return self.head(self.backbone(x)[0])

    x = torch.rand(1, 3, 224, 224)
    model = WithHead('ti-1').eval()
    d = 192
    blocks = 12 * 196 * d * d + 2 * 196 * 196 * d + 11 * (
        12 * 97 * d * d + 2 * 97 * 97 * d)
    exact = blocks + 196 * d * 768 + d * 1000
    assert count_flops(model, x, norms=False) == exact  # 0.642 G
    assert round(exact / 1e9, 2) == 0.64
    without_attn = count_flops(model, x, attention_matmuls=False, norms=False)
    assert exact - without_attn == 2 * d * (196 * 196 + 11 * 97 * 97)


def test_flops_norms_switch():
    """``norms=False`` really leaves the LayerNorms out (mmengine 0.10.7's
    ``set_op_handle(op=None)`` does not)."""
    from vit_backbones.tools.complexity import count_flops
    model = nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8))
    x = torch.rand(1, 10, 8)
    assert count_flops(model, x, norms=False) == 640
    assert count_flops(model, x, norms=True) > 640


def test_state_dict_keys_mirror_official_layout():
    model = HVT(copy.deepcopy(TINY_1D))
    keys = set(model.state_dict())
    assert 'pos_embed' in keys and 'pools.1.pos_embed' in keys
    assert 'layers.0.ffn.layers.0.0.weight' in keys
    assert not any('cls_token' in k for k in keys)
