"""Attention kernels shared by the four backbones.

All attention of this package goes through
:func:`scaled_dot_product_attention`. It calls
``torch.nn.functional.scaled_dot_product_attention`` (fused kernels on GPU
and, for most shapes, on CPU) or runs the same maths as explicit
``matmul``/``softmax`` ops: while a FLOP counter traces the model (mmengine's
counter, and any jit-based one, can see only those), inside
:func:`attention_as_matmul`, and on CPU where that is the faster kernel
(:func:`prefer_matmul`). The two paths agree to floating-point tolerance;
tests check it.

Masks are additive float tensors (``0`` for keep, a large negative value for
drop) built once per shape by the caller and cached. The large negative value
is finite (:func:`mask_value`), so a query whose keys are all masked (a
padding query) gets a uniform softmax instead of ``NaN`` in fp32, fp16 and
bf16 alike.
"""
import functools
import threading
from contextlib import contextmanager
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from .shape import contiguous_if_symbolic, is_symbolic

_state = threading.local()


@contextmanager
def attention_as_matmul(enabled: bool = True):
    """Choose the attention path inside this context.

    ``enabled=True`` runs attention as explicit matmuls, ``False`` through
    ``scaled_dot_product_attention`` even while jit tracing. FLOP counters
    that trace ``aten::matmul`` (mmengine's) cannot see
    ``scaled_dot_product_attention``, so outside any context the matmul path
    is taken automatically while tracing and the ``q @ k^T`` and
    ``attn @ v`` products are counted; ``get_flops.py
    --no-attention-matmuls`` uses ``enabled=False`` to leave them out.
    """
    previous = getattr(_state, 'matmul', None)
    _state.matmul = enabled
    try:
        yield
    finally:
        _state.matmul = previous


def use_matmul_path() -> bool:
    """Whether attention currently runs through explicit matmuls."""
    forced = getattr(_state, 'matmul', None)
    if forced is not None:
        return forced
    return torch.jit.is_tracing()


#: Keys up to this length run as explicit matmuls on CPU in float32
#: inference (and in bfloat16 where the CPU has no bfloat16 dot products).
MATMUL_MAX_KEYS = 128

#: Keys up to this length run as explicit matmuls on CPU in bfloat16
#: (autocast), in training and inference.
BF16_MATMUL_MAX_KEYS = 1024


@functools.lru_cache(maxsize=None)
def cpu_has_bf16_dot_products() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX),
    as torch's CPU feature checks say (private ones: without them, False).
    """
    checks = ('_is_avx512_bf16_supported', '_is_amx_tile_supported')
    return any(
        bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def prefer_matmul(query: torch.Tensor, key: torch.Tensor,
                  value: torch.Tensor,
                  attn_mask: Optional[torch.Tensor]) -> bool:
    """Whether explicit matmuls beat ``F.scaled_dot_product_attention``.

    On CPU, explicit matmuls for:

    * a mask that needs gradients (a learned position bias): it sends SDPA
      to its unfused path, which also scans every row for fully masked
      keys;
    * bfloat16 where the CPU has bfloat16 dot products, up to
      :data:`BF16_MATMUL_MAX_KEYS` keys, masked or not (SDPA's CPU
      bfloat16 kernels, its backward above all, are slower there);
    * float32 without gradients and without a mask, up to
      :data:`MATMUL_MAX_KEYS` keys.

    SDPA otherwise: in float32 with gradients it is as fast or faster and
    stores no attention map, and float16 has no fast matmul on CPU. Every
    device other than CPU takes SDPA. The measurements behind each rule are
    in ``docs/benchmarks.md`` ("How attention picks its kernel on CPU").
    """
    if query.device.type != 'cpu' or query.dtype == torch.float16:
        return False
    grad_enabled = torch.is_grad_enabled()
    if grad_enabled and attn_mask is not None and attn_mask.requires_grad:
        return True
    grad = grad_enabled and (
        query.requires_grad or key.requires_grad or value.requires_grad)
    if query.dtype == torch.bfloat16 and cpu_has_bf16_dot_products():
        return key.shape[-2] <= BF16_MATMUL_MAX_KEYS
    if grad:
        return False
    return attn_mask is None and key.shape[-2] <= MATMUL_MAX_KEYS


def mask_value(dtype: torch.dtype) -> float:
    """The additive value that removes a key from the softmax.

    Half of the dtype's most negative finite value: adding an attention
    score cannot overflow it to ``-inf`` and ``exp`` of it relative to any
    real score is exactly zero, so partially masked rows equal the ``-inf``
    result while fully masked rows stay finite.
    """
    return torch.finfo(dtype).min / 2


def bool_mask_to_bias(keep: torch.Tensor,
                      dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Turn a boolean ``keep`` mask into an additive float mask."""
    bias = torch.zeros(keep.shape, dtype=dtype, device=keep.device)
    return bias.masked_fill_(~keep, mask_value(dtype))


def scaled_dot_product_attention(query: torch.Tensor,
                                 key: torch.Tensor,
                                 value: torch.Tensor,
                                 attn_mask: Optional[torch.Tensor] = None,
                                 dropout_p: float = 0.,
                                 scale: Optional[float] = None
                                 ) -> torch.Tensor:
    """``softmax(q @ k^T * scale + attn_mask) @ v`` over the last two dims.

    Args:
        query (Tensor): ``(..., Lq, D)``.
        key (Tensor): ``(..., Lk, D)``.
        value (Tensor): ``(..., Lk, Dv)``.
        attn_mask (Tensor, optional): additive float mask broadcastable to
            ``(..., Lq, Lk)`` (relative position biases and masks, see
            :func:`mask_value`). It is cast to the query dtype; cache one
            per dtype to avoid the cast.
        dropout_p (float): attention dropout, applied by the caller only in
            training mode.
        scale (float, optional): defaults to ``D ** -0.5``.
    """
    if attn_mask is not None and attn_mask.dtype != query.dtype:
        # Clamp before the cast so that a float32 mask value does not
        # overflow to -inf in float16.
        attn_mask = attn_mask.clamp(min=mask_value(query.dtype)).to(
            query.dtype)
    symbolic = is_symbolic(*query.shape, *key.shape)
    if symbolic:
        # Exported graphs: contiguous inputs, so that no reshape inside the
        # attention decides between a view and a copy by a symbolic size
        # (e.g. a single pooled key). Eager inputs pass unchanged.
        query, key, value = (
            contiguous_if_symbolic(t) for t in (query, key, value))
    # ONNX's attention lowering takes 4-D inputs only: an exported graph
    # with more dims (ViL's chunks) gets the explicit matmuls.
    exporting_5d = symbolic and query.dim() != 4
    matmul = use_matmul_path() or exporting_5d
    if not matmul and getattr(_state, 'matmul', None) is None \
            and not symbolic:
        # no path forced: the faster kernel for the device and shapes
        matmul = prefer_matmul(query, key, value, attn_mask)
    if not matmul:
        return F.scaled_dot_product_attention(
            query, key, value, attn_mask=attn_mask, dropout_p=dropout_p,
            scale=scale)
    if scale is None:
        scale = query.size(-1)**-0.5
    if scale != 1.:
        query = query * scale
    attn = torch.matmul(query, key.transpose(-2, -1))
    if attn_mask is not None:
        attn = attn + attn_mask
    attn = attn.softmax(dim=-1)
    if dropout_p > 0:
        attn = F.dropout(attn, p=dropout_p)
    return torch.matmul(attn, value)


class MultiheadSelfAttention(BaseModule):
    """Global multi-head self-attention with one ``qkv`` projection.

    ``qkv`` (one ``Linear(C, 3C)``), attention through
    :func:`scaled_dot_product_attention` with scale ``head_dims ** -0.5``,
    then ``proj`` and ``proj_drop``: the DeiT/timm ``Attention`` layout and
    parameter names, so official checkpoints map key for key. HVT uses it
    as it is; DHVT's head-token attention extends it.

    Args:
        embed_dims (int): The token width ``C``.
        num_heads (int): The number of heads; must divide ``embed_dims``.
        qkv_bias (bool): Whether ``qkv`` has a bias. Defaults to True.
        attn_drop (float): Dropout rate on the attention weights (training
            only). Defaults to 0.
        proj_drop (float): Dropout rate after ``proj``. Defaults to 0.
        init_cfg (dict, optional): The init config. Defaults to None.

    Examples:
        >>> import torch
        >>> attn = MultiheadSelfAttention(embed_dims=64, num_heads=4)
        >>> attn(torch.rand(2, 10, 64)).shape
        torch.Size([2, 10, 64])
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 qkv_bias: bool = True,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims ({embed_dims}) must be divisible '
                             f'by num_heads ({num_heads}).')
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.head_dims = embed_dims // num_heads
        self.attn_drop = attn_drop
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)

    def attend(self, x: torch.Tensor) -> torch.Tensor:
        """``proj(attention(x))`` for ``(B, N, C)`` tokens, before
        ``proj_drop``."""
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads,
                                  self.head_dims).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        out = scaled_dot_product_attention(
            q, k, v, dropout_p=self.attn_drop if self.training else 0.)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj_drop(self.attend(x))
