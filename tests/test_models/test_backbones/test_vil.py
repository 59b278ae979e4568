"""Tests of the ViL backbone (vit_backbones.ViL)."""
import os.path as osp
import tempfile

import pytest
import torch
import torch.nn.functional as F
from helpers import DATA_ROOT, count_params

from vit_backbones.models.backbones.vil import (SHIFT_NEIGHBOURS, ViL,
                                                ViLAttention)
from vit_backbones.models.utils import mask_value

FIXTURES = osp.join(DATA_ROOT, 'vil')

# Parameters of the official MsViT (classification, 224x224, 1000 classes,
# NORM_EMBED=True, SHARE_W=True), counted by instantiating the official code
# of microsoft/vision-longformer (c9ce386): (APE ``a1``, RPB ``a0``).
OFFICIAL_PARAMS = {
    'tiny': (6707080, 6719698),
    'small': (24635752, 24657328),
    'medium-d': (39721192, 39782296),
    'medium-w': (39776488, 39801208),
    'base-d': (55696360, 55801384),
    'base-w': (78998760, 79041948),
    'tiny-3stage': (6785416, 6802234),
    'small-3stage': (26251048, 26280292),
}

TINY = dict(embed_dims=[8, 16, 16, 32], depths=[1, 1, 2, 1],
            num_heads=[2, 2, 2, 4], patch_sizes=[4, 2, 2, 2])


@pytest.mark.parametrize('arch', sorted(OFFICIAL_PARAMS))
def test_param_counts_equal_official(arch):
    for pos_embed, expected in zip(('ape', 'rpb'), OFFICIAL_PARAMS[arch]):
        with torch.device('meta'):
            model = ViL(arch, pos_embed=pos_embed)
        head = model.embed_dims[-1] * 1000 + 1000
        assert count_params(model) + head == expected, (arch, pos_embed)


def test_official_arch_string():
    text = ('l1,h1,d48,n1,s1,g1,p4,f7,a0_l2,h3,d96,n1,s1,g1,p2,f7,a0_'
            'l3,h3,d192,n9,s0,g1,p2,f7,a0_l4,h6,d384,n1,s0,g0,p2,f7,a0')
    parsed = ViL.parse_official_arch(text)
    assert parsed['depths'] == [1, 1, 9, 1]
    assert parsed['attn_types'] == ['longformer', 'longformer', 'full',
                                    'full']
    assert parsed['num_global_tokens'] == [1, 1, 1, 0]
    assert parsed['pos_embed'] == ['rpb'] * 4
    with torch.device('meta'):
        from_string = ViL(text)
        from_name = ViL('tiny')
    assert from_string.state_dict().keys() == from_name.state_dict().keys()
    assert count_params(from_string) == count_params(from_name)
    # official defaults: a1 (APE), g1, s1, f7
    assert ViL.parse_official_arch('l1,d16,n1,p4_l2,d16')['pos_embed'] == [
        'ape', 'ape']
    with pytest.raises(ValueError, match='Cannot parse'):
        ViL.parse_official_arch('l1,x3')
    with pytest.raises(ValueError, match='in order'):
        ViL.parse_official_arch('l2,h3')
    with pytest.raises(ValueError, match='sets'):
        ViL(text, window_size=5)


def test_errors():
    with pytest.raises(ValueError, match='Unknown ViL arch'):
        ViL('huge')
    with pytest.raises(KeyError, match='patch_sizes'):
        ViL(dict(embed_dims=[8] * 4, depths=[1] * 4, num_heads=[1] * 4))
    with pytest.raises(ValueError, match='3 or 4 stages'):
        ViL(dict(embed_dims=[8] * 2, depths=[1] * 2, num_heads=[1] * 2,
                 patch_sizes=[4, 2]))
    with pytest.raises(ValueError, match='attn_types'):
        ViL(TINY, attn_types='local')
    with pytest.raises(ValueError, match='num_global_tokens needs 4'):
        ViL(TINY, num_global_tokens=(1, 1))
    with pytest.raises(ValueError, match='random_shift'):
        ViL(TINY, exact_window=True, random_shift=True)
    model = ViL(TINY)
    with pytest.raises(ValueError, match=r'\(B, 3, H, W\)'):
        model(torch.randn(1, 4, 32, 32))
    with pytest.raises(ValueError, match='4-D'):
        model(torch.randn(3, 32, 32))


@pytest.mark.parametrize('size', [(64, 64), (37, 53)])
def test_forward_shapes(size):
    model = ViL(TINY, img_size=64, out_indices=(0, 1, 2, 3),
                attn_types='longformer', window_size=3).eval()
    outs = model(torch.randn(2, 3, *size))
    h, w = size
    for i, (out, stride) in enumerate(zip(outs, (4, 8, 16, 32))):
        assert out.shape == (2, TINY['embed_dims'][i], -(-h // stride),
                             -(-w // stride))
    assert model.num_features == TINY['embed_dims']
    for index in (0, 2, -1):
        model = ViL(TINY, out_indices=index, pos_embed='ape').eval()
        (out, ) = model(torch.randn(1, 3, *size))
        assert out.shape[1] == TINY['embed_dims'][index]
    # 3-stage models: strides 8, 16, 32
    arch3 = dict(embed_dims=[8, 16, 32], depths=[1, 1, 1],
                 num_heads=[2, 2, 2], patch_sizes=[8, 2, 2])
    model = ViL(arch3, out_indices=(0, 1, 2)).eval()
    outs = model(torch.randn(1, 3, *size))
    assert [o.shape[-1] for o in outs] == [-(-size[1] // s)
                                           for s in (8, 16, 32)]


def test_padding_equivalence():
    """A stage pads its input to a multiple of the patch size; padding by
    hand gives the same maps. Inside the Longformer, padding to a multiple
    of the window is masked, which the oracle tests below check."""
    model = ViL(TINY, attn_types='longformer', window_size=3,
                out_indices=(0, 1, 2, 3)).eval()
    x = torch.randn(1, 3, 45, 38)
    with torch.no_grad():
        a = model(x)
        b = model(F.pad(x, (0, 2, 0, 3)))
    for u, v in zip(a, b):
        torch.testing.assert_close(u, v)


# --------------------------------------------------------------------------
# The halo attention against a dense masked-attention oracle.
# --------------------------------------------------------------------------
def dense_oracle(attn: ViLAttention, x, hw, neighbour=None):
    """Dense attention over all tokens with the ViL mask written in terms
    of token positions (no chunks, no halo): a test oracle only."""
    b, n, c = x.shape
    g, w, heads = attn.num_global_tokens, attn.window_size, attn.num_heads
    rows, cols = hw
    q = (attn.query(x) * attn.scale).view(b, n, heads, -1).transpose(1, 2)
    k, v = attn.kv(x).view(b, n, 2, heads, -1).permute(2, 0, 3, 1, 4)
    r, cc = torch.meshgrid(torch.arange(rows), torch.arange(cols),
                           indexing='ij')
    r, cc = r.reshape(-1), cc.reshape(-1)
    dr = r[:, None] - r[None]
    dc = cc[:, None] - cc[None]
    chunk_dr = (r[None] // w) - (r[:, None] // w)
    chunk_dc = (cc[None] // w) - (cc[:, None] // w)
    if attn.exact_window:
        keep = (dr.abs() <= w) & (dc.abs() <= w)
    elif neighbour is None:
        keep = (chunk_dr.abs() <= 1) & (chunk_dc.abs() <= 1)
    else:
        keep = ((chunk_dr == 0) & (chunk_dc == 0)) | (
            (chunk_dr == neighbour[0]) & (chunk_dc == neighbour[1]))
    bias = torch.zeros(heads, n, n)
    local = bias[:, g:, g:]
    if attn.rel_pos_bias:
        side = 4 * w - 1
        index = (dr + 2 * w - 1).clamp(0, side - 1) * side + (
            dc + 2 * w - 1).clamp(0, side - 1)
        local += attn.local_relative_position_bias_table[index].permute(
            2, 0, 1)
        if g:
            g2l = attn.g2l_relative_position_bias
            bias[:, :g, :g] = attn.g2g_relative_position_bias
            bias[:, :g, g:] = g2l[0][..., None]
            bias[:, g:, :g] = g2l[1][:, None]
    local.masked_fill_(~keep, mask_value(torch.float32))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=1.)
    return attn.proj(out.transpose(1, 2).reshape(b, n, c))


def _attention(g, exact=False, rpb=True, window=3, seed=0):
    torch.manual_seed(seed)
    attn = ViLAttention(16, 2, num_global_tokens=g, window_size=window,
                        rel_pos_bias=rpb, exact_window=exact)
    with torch.no_grad():
        for p in attn.parameters():
            p.normal_(0, 0.3)
    return attn


@pytest.fixture(params=['as_dispatched', 'halo_always'])
def halo_always(request, monkeypatch):
    """Runs a test as dispatched (maps of at most 2x2 chunks take dense
    attention) and again with the chunked halo for every map."""
    import vit_backbones.models.backbones.vil as vil
    if request.param == 'halo_always':
        monkeypatch.setattr(vil, 'halo_covers_map', lambda *args: False)


@pytest.mark.parametrize('g', [0, 1, 2])
@pytest.mark.parametrize('exact', [False, True])
@pytest.mark.parametrize('hw', [(8, 10), (6, 9), (5, 6), (2, 1)])
def test_halo_equals_dense_oracle(g, exact, hw, halo_always):
    for rpb in (True, False):
        attn = _attention(g, exact, rpb)
        x = torch.randn(2, g + hw[0] * hw[1], 16)
        torch.testing.assert_close(
            attn(x, hw), dense_oracle(attn, x, hw), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('g', [0, 2])
def test_random_shift_equals_dense_oracle(g):
    attn = _attention(g)
    hw = (8, 10)
    x = torch.randn(1, g + hw[0] * hw[1], 16)
    for neighbour in SHIFT_NEIGHBOURS:
        torch.testing.assert_close(
            attn(x, hw, neighbour), dense_oracle(attn, x, hw, neighbour),
            rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('hw', [(7, 5), (6, 4)])
def test_halo_gradients_equal_dense_oracle(hw, halo_always):
    attn = _attention(1)
    x = torch.randn(2, 1 + hw[0] * hw[1], 16, requires_grad=True)
    grads = []
    for fn in (lambda: attn(x, hw), lambda: dense_oracle(attn, x, hw)):
        attn.zero_grad()
        x.grad = None
        (fn() * torch.arange(16.)).sum().backward()
        grads.append([x.grad.clone()] +
                     [p.grad.clone() for p in attn.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_halo_is_gathered_again_in_backward(monkeypatch):
    """Training does not keep the 9x halo of keys and values for the
    backward (ViL's memory): the backward gathers it again, and the
    gradients equal those of the dense oracle (test above)."""
    import vit_backbones.models.utils.longformer as longformer
    calls = []
    gather = longformer.gather_halo

    def counting(*args, **kwargs):
        calls.append(torch.is_grad_enabled())
        return gather(*args, **kwargs)

    monkeypatch.setattr(longformer, 'gather_halo', counting)
    attn = ViLAttention(16, 2, num_global_tokens=1, window_size=3).train()
    x = torch.randn(2, 1 + 7 * 8, 16, requires_grad=True)
    out = attn(x, (7, 8))
    assert calls == [True, True]  # keys, values
    out.sum().backward()
    assert calls == [True, True, False, False]  # again, without a graph
    with torch.no_grad():
        attn(x, (7, 8))
    assert len(calls) == 6  # inference: nothing to save, nothing again


def test_full_attention_any_size():
    attn = ViLAttention(16, 2, num_global_tokens=1, attn_type='full',
                        feat_size=(4, 4))
    for hw in ((4, 4), (5, 3)):
        out = attn(torch.randn(1, 1 + hw[0] * hw[1], 16), hw)
        assert out.shape == (1, 1 + hw[0] * hw[1], 16)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
@pytest.mark.parametrize('exact', [False, True])
@pytest.mark.parametrize('hw', [(7, 5), (5, 6)])
def test_low_precision_is_finite(dtype, exact, hw):
    attn = _attention(1, exact).to(dtype)
    x = torch.randn(1, 1 + hw[0] * hw[1], 16, dtype=dtype)
    assert torch.isfinite(attn(x, hw)).all()


def test_matches_official_attention_fixtures():
    data = torch.load(osp.join(FIXTURES, 'official_outputs.pth'),
                      weights_only=True)
    geo = data['attention_geometry']
    for name, case in data['attention'].items():
        g, exact, mode = (int(v) for v in
                          (name.split('_')[0][1:], name.split('_')[1][5:],
                           name.split('_')[2][4:]))
        attn = ViLAttention(geo['dim'], geo['heads'], num_global_tokens=g,
                            window_size=geo['window'], exact_window=exact)
        state = {k: v for k, v in case['state_dict'].items()
                 if not k.endswith('_global.weight')
                 and not k.endswith('_global.bias')
                 and k != 'relative_position_index'}
        attn.load_state_dict(state)
        neighbour = SHIFT_NEIGHBOURS[mode - 1] if mode else None
        out = attn(case['x'], (geo['nx'], geo['ny']), neighbour)
        torch.testing.assert_close(out, case['out'], rtol=1e-4, atol=1e-4,
                                   msg=name)


# --------------------------------------------------------------------------
# Random shift, OpenMMLab features
# --------------------------------------------------------------------------
def test_random_shift_mode():
    model = ViL(TINY, random_shift=True, window_size=3)
    attn = model.stages[0].blocks[0].attn
    full = model.stages[2].blocks[0].attn
    model.train()
    assert attn.sample_neighbour() in SHIFT_NEIGHBOURS
    assert full.sample_neighbour() is None
    model.eval()
    assert attn.sample_neighbour() is None
    model.train()
    assert model.set_random_shift(False) == 2  # the Longformer blocks
    assert attn.sample_neighbour() is None
    assert model.set_random_shift(False) == 0


def test_with_cp_same_outputs_and_grads():
    torch.manual_seed(0)
    kwargs = dict(arch=TINY, out_indices=(0, 1, 2, 3), random_shift=True,
                  window_size=3, drop_path_rate=0.)
    model = ViL(**kwargs)
    model.init_weights()
    cp_model = ViL(with_cp=True, **kwargs)
    cp_model.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 40, 48)
    results = []
    for m in (model, cp_model):
        m.train()
        torch.manual_seed(1)
        outs = m(x)
        sum(o.sum() for o in outs).backward()
        results.append(([o.detach() for o in outs],
                        [p.grad.clone() for p in m.parameters()]))
    for a, b in zip(results[0][0] + results[0][1],
                    results[1][0] + results[1][1]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_get_layer_depth():
    model = ViL(TINY)
    num_layers = sum(TINY['depths']) + 2
    cases = {
        'backbone.stages.0.patch_embed.projection.weight': 0,
        'backbone.stages.0.global_tokens': 0,
        'backbone.stages.0.blocks.0.attn.query.weight': 1,
        'backbone.stages.1.patch_embed.norm.weight': 1,
        'backbone.stages.2.blocks.1.ffn.layers.1.weight': 4,
        'backbone.stages.3.blocks.0.norm1.weight': 5,
        'backbone.norm3.weight': num_layers - 1,
        'head.fc.weight': num_layers - 1,
    }
    for name, depth in cases.items():
        assert model.get_layer_depth(name, 'backbone.') == (depth,
                                                            num_layers)


def test_init_weights_and_pretrained_round_trip():
    from mmengine.runner import save_checkpoint
    model = ViL(TINY, pos_embed='ape')
    model.init_weights()
    assert model.stages[0].pos_embed_row.abs().sum() > 0
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, 'cls.pth')
        state = {'backbone.' + k: v for k, v in model.state_dict().items()}
        state['head.fc.weight'] = torch.zeros(10, 32)
        save_checkpoint({'state_dict': state}, path)
        loaded = ViL(TINY, pos_embed='ape', init_cfg=dict(
            type='Pretrained', checkpoint=path, prefix='backbone.'))
        loaded.init_weights()
    for k, v in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[k], v, msg=k)


def test_state_dict_adaptation_hook():
    """Loading into other window/global-token/size settings adapts the
    tables and tokens as the official converter does."""
    src = ViL(TINY, pos_embed='ape', img_size=64)
    src.init_weights()
    dst = ViL(TINY, pos_embed='ape', img_size=96,
              num_global_tokens=(2, 1, 1, 0))
    dst.load_state_dict(src.state_dict())
    assert torch.equal(dst.stages[0].global_tokens[0, 1],
                       src.stages[0].global_tokens[0, 0])
    assert dst.stages[0].pos_embed_row.shape[1] == 24
    rpb_src = ViL(TINY)
    rpb_src.init_weights()
    rpb_dst = ViL(TINY, attn_types='longformer', window_size=3)
    rpb_dst.load_state_dict(rpb_src.state_dict())
    assert rpb_dst.stages[3].blocks[0].attn.\
        local_relative_position_bias_table.shape == (121, 4)
