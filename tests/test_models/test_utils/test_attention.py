"""The shared attention layers (vit_backbones.models.utils.attention): the
matmul and SDPA paths agree, the CPU dispatch, masks."""
import pytest
import torch

from vit_backbones.models.utils import (MultiheadSelfAttention,
                                        attention_as_matmul, bool_mask_to_bias,
                                        scaled_dot_product_attention,
                                        use_matmul_path)
from vit_backbones.models.utils.attention import (BF16_MATMUL_MAX_KEYS,
                                                  MATMUL_MAX_KEYS,
                                                  cpu_has_bf16_dot_products)


def _qkv(dtype=torch.float32):
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 5, 8, dtype=dtype) for _ in range(3))
    return q, k, v


def test_matmul_path_equals_sdpa():
    q, k, v = _qkv()
    keep = torch.rand(5, 5) > 0.3
    keep[:, 0] = True
    bias = bool_mask_to_bias(keep) + torch.randn(3, 5, 5)
    fused = scaled_dot_product_attention(q, k, v, bias, scale=0.3)
    with attention_as_matmul():
        assert use_matmul_path()
        plain = scaled_dot_product_attention(q, k, v, bias, scale=0.3)
    assert not use_matmul_path()
    torch.testing.assert_close(fused, plain, rtol=1e-5, atol=1e-5)


def test_tracing_selects_matmul_path():
    seen = []

    def fn(x):
        seen.append(use_matmul_path())
        return x * 2

    torch.jit.trace(fn, torch.ones(1), check_trace=False)
    assert seen == [True]
    seen.clear()
    with attention_as_matmul(False):
        torch.jit.trace(fn, torch.ones(1), check_trace=False)
    assert seen == [False]


@pytest.mark.parametrize(
    'case, keys, with_mask, grad, dtype, expect_sdpa',
    [
        ('short keys, inference', MATMUL_MAX_KEYS, False, None, 'fp32',
         False),
        ('long keys, inference', MATMUL_MAX_KEYS + 1, False, None, 'fp32',
         True),
        ('masked, inference', 5, True, None, 'fp32', True),
        ('float16 has no fast CPU matmul', 5, False, None, 'fp16', True),
        ('training', 5, False, 'qkv', 'fp32', True),
        ('learned bias needs gradients', 5, True, 'mask', 'fp32', False),
        ('bfloat16 training', BF16_MATMUL_MAX_KEYS, True, 'qkv',
         'bf16', 'unless the CPU lacks bf16 dot products'),
        ('bfloat16 training, long keys', BF16_MATMUL_MAX_KEYS + 1,
         False, 'qkv', 'bf16', True),
        ('bfloat16 inference', MATMUL_MAX_KEYS + 1, True, None, 'bf16',
         'unless the CPU lacks bf16 dot products'),
    ])
def test_cpu_dispatch_picks_the_kernel_and_both_agree(
        monkeypatch, case, keys, with_mask, grad, dtype, expect_sdpa):
    """On CPU the faster kernel is chosen by shape, dtype and by what needs
    gradients (see ``prefer_matmul``); either way the result, and the
    gradients, equal the other path's."""
    import torch.nn.functional as F
    if isinstance(expect_sdpa, str):
        expect_sdpa = not cpu_has_bf16_dot_products()
    dtype = dict(fp32=torch.float32, fp16=torch.float16,
                 bf16=torch.bfloat16)[dtype]
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(
        rtol=2e-2, atol=2e-2)
    torch.manual_seed(0)
    q = torch.randn(2, 3, 4, 8, dtype=dtype)
    k, v = (torch.randn(2, 3, keys, 8, dtype=dtype) for _ in range(2))
    mask = torch.randn(3, 4, keys, dtype=dtype) if with_mask else None
    leaves = []
    if grad == 'qkv':
        leaves = [t.requires_grad_() for t in (q, k, v)]
    elif grad == 'mask':
        leaves = [mask.requires_grad_()]
    calls = []
    sdpa = F.scaled_dot_product_attention

    def counting(*args, **kwargs):
        calls.append(1)
        return sdpa(*args, **kwargs)

    monkeypatch.setattr(F, 'scaled_dot_product_attention', counting)
    out = scaled_dot_product_attention(q, k, v, mask)
    assert bool(calls) == expect_sdpa, case
    with attention_as_matmul(not expect_sdpa):  # the other path
        other = scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(out, other, **tol)
    if leaves:
        weights = torch.randn_like(out)
        grads = torch.autograd.grad((out * weights).sum(), leaves)
        others = torch.autograd.grad((other * weights).sum(), leaves)
        for a, b in zip(grads, others):
            torch.testing.assert_close(a, b, **tol)


def test_bf16_dispatch_needs_bf16_dot_products(monkeypatch):
    """bfloat16 takes the matmuls only where they were measured faster: on
    a CPU with bfloat16 dot products; elsewhere the float32 rules apply
    (here: SDPA for training)."""
    from vit_backbones.models.utils import attention
    q, k, v = (t.to(torch.bfloat16).requires_grad_() for t in _qkv())
    monkeypatch.setattr(attention, 'cpu_has_bf16_dot_products',
                        lambda: True)
    assert attention.prefer_matmul(q, k, v, None)
    monkeypatch.setattr(attention, 'cpu_has_bf16_dot_products',
                        lambda: False)
    assert not attention.prefer_matmul(q, k, v, None)


def test_every_device_but_the_cpu_takes_sdpa(monkeypatch):
    """The CPU rules are CPU measurements: on any other device (here
    ``meta``, as a GPU would be) each case that takes the matmuls on CPU
    takes SDPA."""
    from vit_backbones.models.utils import attention
    monkeypatch.setattr(attention, 'cpu_has_bf16_dot_products',
                        lambda: True)
    q, k, v = _qkv()
    bias = torch.zeros(k.shape[-2], requires_grad=True)
    cases = [((q, k, v), None),  # float32 inference, no mask
             ((q, k, v), bias),  # a mask that needs gradients
             (tuple(t.to(torch.bfloat16) for t in (q, k, v)), None)]
    for tensors, mask in cases:
        with torch.enable_grad():
            assert attention.prefer_matmul(*tensors, mask)
            meta = [t.to('meta') for t in tensors]
            assert not attention.prefer_matmul(
                *meta, None if mask is None else mask.to('meta'))


@pytest.mark.parametrize('dtype',
                         [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize('matmul', [False, True])
def test_fully_masked_rows_are_finite(dtype, matmul):
    q, k, v = _qkv(dtype)
    keep = torch.ones(5, 5, dtype=torch.bool)
    keep[2] = False  # query 2 sees no key (a padding query)
    keep[3, 1:] = False  # query 3 sees key 0 only
    mask = bool_mask_to_bias(keep)  # float32, cast inside
    with attention_as_matmul(matmul):
        out = scaled_dot_product_attention(q, k, v, mask)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(
        out[:, :, 3], v[:, :, 0], rtol=1e-2, atol=1e-2)


def test_multihead_self_attention():
    torch.manual_seed(0)
    attn = MultiheadSelfAttention(16, 2).eval()
    x = torch.randn(2, 5, 16)
    q, k, v = attn.qkv(x).reshape(2, 5, 3, 2, 8).permute(2, 0, 3, 1, 4)
    ref = ((q @ k.transpose(-2, -1)) * 8**-0.5).softmax(-1) @ v
    ref = attn.proj(ref.transpose(1, 2).reshape(2, 5, 16))
    torch.testing.assert_close(attn(x), ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match='divisible by num_heads'):
        MultiheadSelfAttention(16, 3)
