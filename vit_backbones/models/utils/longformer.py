"""The Vision Longformer's local-attention geometry (ViL).

A ``H x W`` token map is cut into ``w x w`` chunks (zero-padded at the
bottom/right to multiples of ``w``). A query of chunk ``(i, j)`` attends to
the keys of the 3x3 chunks around it (the chunk-aligned ``3w x 3w`` halo),
or, in random-shift training, to its own chunk plus one neighbour chunk.
Everything here is pure tensor bookkeeping: which keys each chunk sees
(:func:`gather_halo`), where they sit relative to the chunk
(:func:`key_offsets`, :func:`local_rpb_index`), which of them are real
(:func:`local_keep_mask`, :func:`local_mask_bias`) and the chunk layout
(:func:`to_chunks`, :func:`from_chunks`). The masks are built once per shape
with tensor ops and cached; nothing loops over positions.
:func:`local_attention` puts them together.
"""
from contextlib import nullcontext
from functools import partial
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

from .attention import bool_mask_to_bias, scaled_dot_product_attention
from .shape import (ceil_div, contiguous_if_symbolic, crop, is_symbolic,
                    shape_cache)

__all__ = [
    'SHIFT_NEIGHBOURS', 'grid_coords', 'key_offsets', 'local_rpb_index',
    'full_rpb_index', 'halo_covers_map', 'map_rpb_index', 'map_mask_bias',
    'local_keep_mask', 'local_mask_bias', 'gather_halo', 'to_chunks',
    'from_chunks', 'local_attention'
]


def grid_coords(rows: int,
                cols: int,
                row0: int = 0,
                col0: int = 0) -> torch.Tensor:
    """``(rows * cols, 2)`` row-major coordinates starting at ``(row0,
    col0)``."""
    r = torch.arange(row0, row0 + rows, device='cpu')
    c = torch.arange(col0, col0 + cols, device='cpu')
    return torch.stack(torch.meshgrid(r, c, indexing='ij'), -1).view(-1, 2)


@shape_cache(maxsize=None)
def key_offsets(window: int, neighbour: Optional[Tuple[int, int]]):
    """Offsets of the local keys of a chunk, relative to its top-left token.

    ``neighbour=None``: the whole ``3w x 3w`` halo (the chunk and its eight
    neighbour chunks), row-major, as :func:`gather_halo` lays it out.
    ``neighbour=(dr, dc)``: the chunk itself followed by the neighbour chunk
    ``(dr, dc)`` (the random-shift training mode).
    """
    w = window
    if neighbour is None:
        return grid_coords(3 * w, 3 * w, -w, -w)
    dr, dc = neighbour
    return torch.cat([grid_coords(w, w), grid_coords(w, w, dr * w, dc * w)])


@shape_cache(maxsize=None)
def local_rpb_index(window: int,
                    neighbour: Optional[Tuple[int, int]]) -> torch.Tensor:
    """``(w^2, K)`` indices into the ``(4w - 1)^2`` relative-position table.

    The table is indexed by ``(dr + 2w - 1) * (4w - 1) + (dc + 2w - 1)`` with
    ``dr = query_row - key_row`` (as the official code and Swin do).
    """
    rel = grid_coords(window, window)[:, None] - key_offsets(
        window, neighbour)[None]
    return _local_table_index(rel, window)


def _local_table_index(rel: torch.Tensor, window: int) -> torch.Tensor:
    """Offsets ``(..., 2)`` (query - key) -> indices into the ``(4w - 1)^2``
    table."""
    rel = rel + (2 * window - 1)
    return rel[..., 0] * (4 * window - 1) + rel[..., 1]


@shape_cache(maxsize=16)
def full_rpb_index(rows: int, cols: int) -> torch.Tensor:
    """``(HW, HW)`` indices into a ``(2H - 1) x (2W - 1)`` table."""
    coords = grid_coords(rows, cols)
    offset = torch.tensor([rows - 1, cols - 1], device='cpu')
    rel = coords[:, None] - coords[None] + offset
    return rel[..., 0] * (2 * cols - 1) + rel[..., 1]


def halo_covers_map(rows, cols, window: int) -> bool:
    """Whether every chunk's ``3w x 3w`` halo holds the whole map: at most
    2x2 chunks (e.g. 14x14 tokens with ``w = 7``, ViL's third stage at 224).
    Then the local attention is dense attention over the map with the same
    biases, and needs no gather, no padding and no mask of padded keys
    (a halo holds 9 chunks, of which at most 4 are real). Always ``False``
    for symbolic sizes, which must keep one graph for every size."""
    if is_symbolic(rows, cols):
        return False
    return ceil_div(rows, window) <= 2 and ceil_div(cols, window) <= 2


@shape_cache(maxsize=16)
def map_rpb_index(rows: int, cols: int, window: int) -> torch.Tensor:
    """``(HW, HW)`` indices into the ``(4w - 1)^2`` relative-position table
    of :func:`local_rpb_index`, for every query and key of a map that
    :func:`halo_covers_map`."""
    coords = grid_coords(rows, cols)
    return _local_table_index(coords[:, None] - coords[None], window)


@shape_cache(maxsize=16)
def map_mask_bias(rows: int, cols: int, window: int, num_global: int,
                  device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Additive mask ``(1, g + HW, g + HW)`` of the exact window on a map
    that :func:`halo_covers_map`: 0 for keys within ``w`` rows and columns
    of the query, a large negative value elsewhere (global queries and
    keys are always kept). Cached like :func:`local_mask_bias`."""
    coords = grid_coords(rows, cols)
    keep = ((coords[:, None] - coords[None]).abs() <= window).all(-1)
    # Padded as the float mask (0: keep): ONNX before opset 13 has no Pad
    # of booleans.
    bias = bool_mask_to_bias(keep.to(device), dtype)
    return F.pad(bias, (num_global, 0, num_global, 0))[None]


def local_keep_mask(height: int, width: int, window: int, exact: bool,
                    neighbour: Optional[Tuple[int, int]],
                    device: torch.device) -> torch.Tensor:
    """Which local keys each query of each chunk may attend to.

    Returns a bool tensor ``(num_chunks, w^2 or 1, K)``: a key is kept when
    it lies inside the (unpadded) ``height x width`` map and, with
    ``exact=True``, when it is within ``w`` rows and columns of the query.
    The query dimension is 1 when the mask does not depend on the query.
    """
    w = window
    mh, mw = ceil_div(height, w), ceil_div(width, w)
    origins = grid_coords(mh, mw) * w  # (M, 2)
    keys = origins[:, None] + key_offsets(w, neighbour)[None]  # (M, K, 2)
    keep = ((keys[..., 0] >= 0) & (keys[..., 0] < height)
            & (keys[..., 1] >= 0) & (keys[..., 1] < width))[:, None]
    if exact:
        rel = grid_coords(w, w)[:, None] - key_offsets(w, neighbour)[None]
        keep = keep & (rel.abs() <= w).all(-1)[None]
    return keep.to(device)


@shape_cache(maxsize=64)
def local_mask_bias(height: int, width: int, window: int, exact: bool,
                    neighbour: Optional[Tuple[int, int]], num_global: int,
                    device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Additive mask ``(M, w^2 or 1, num_global + K)``: 0 where a query may
    look, a large negative value elsewhere (global keys are always kept).
    Cached per map size, window, mode, device and dtype."""
    keep = local_keep_mask(height, width, window, exact, neighbour, device)
    # Padded as the float mask (0: keep): ONNX before opset 13 has no Pad
    # of booleans.
    return F.pad(bool_mask_to_bias(keep, dtype), (num_global, 0))


def gather_halo(x: torch.Tensor,
                window: int,
                neighbour: Optional[Tuple[int, int]],
                extra: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Collect the keys (or values) every chunk attends to.

    Args:
        x: ``(B, heads, H, W, C)``, any ``H`` and ``W``.
        neighbour: ``None`` for the full ``3w x 3w`` halo of each chunk,
            ``(dr, dc)`` for the chunk itself plus that neighbour chunk.
        extra: ``(B, heads, g, C)`` tokens put in front of every chunk's
            keys (the global tokens).

    Returns:
        ``(B, heads, num_chunks, g + K, C)``, the local keys in the order of
        :func:`key_offsets`; positions outside the map are zeros (masked by
        :func:`local_keep_mask`).
    """
    w = window
    b, h, rows, cols, c = x.shape
    if neighbour is None and not is_symbolic(rows, cols):
        if _needs_grad(x, extra) and not torch.compiler.is_compiling():
            return _GatherFullHalo.apply(x, w, extra)
        # Inference, exporters and the compiler get the plain gather.
        return _gather_full_halo(x, w, extra)
    mh, mw = ceil_div(rows, w), ceil_div(cols, w)
    x = F.pad(x, (0, 0, w, w + mw * w - cols, w, w + mh * w - rows))
    if neighbour is None:
        # The same halo from nine shifted views of the chunk grid: what
        # exporters can express for symbolic sizes (ONNX has no unfold of
        # an unknown size). Eager mode keeps unfold, which is faster.
        grid = x.view(b, h, mh + 2, w, mw + 2, w, c)
        parts = [
            grid[:, :, dr:dr + mh, :, dc:dc + mw] for dr in range(3)
            for dc in range(3)
        ]
        # (B, h, mh, w, 9, mw, w, C) -> (B, h, mh, mw, 3 (dr), w, 3 (dc), w, C)
        local = torch.stack(parts, dim=4).view(b, h, mh, w, 3, 3, mw, w, c)
        local = contiguous_if_symbolic(
            local.permute(0, 1, 2, 6, 4, 3, 5, 7, 8))
        num_local = 9 * w * w
    else:
        parts = [
            x[:, :, (1 + dr) * w:(1 + dr + mh) * w,
              (1 + dc) * w:(1 + dc + mw) * w] for dr, dc in ((0, 0), neighbour)
        ]
        # (B, h, mh, mw, 2, w, w, C)
        local = torch.stack(
            [p.reshape(b, h, mh, w, mw, w, c).transpose(3, 4) for p in parts],
            dim=4)
        num_local = 2 * w * w
    local = local.reshape(b, h, mh * mw, num_local, c)
    if extra is None:
        return local
    extra = extra[:, :, None].expand(-1, -1, mh * mw, -1, -1)
    return torch.cat([extra, local], dim=3)


def _needs_grad(*tensors: Optional[torch.Tensor]) -> bool:
    """Whether autograd records an op on any of ``tensors`` (``None``s are
    skipped)."""
    return torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in tensors)


def _gather_full_halo(x: torch.Tensor, window: int,
                      extra: Optional[torch.Tensor]) -> torch.Tensor:
    """:func:`gather_halo` with ``neighbour=None`` for concrete sizes."""
    w = window
    b, h, rows, cols, c = x.shape
    mh, mw = ceil_div(rows, w), ceil_div(cols, w)
    x = F.pad(x, (0, 0, w, w + mw * w - cols, w, w + mh * w - rows))
    # (B, h, mh, mw, C, 3w, 3w) -> (B, h, mh, mw, 3w, 3w, C)
    local = x.unfold(2, 3 * w, w).unfold(3, 3 * w,
                                         w).permute(0, 1, 2, 3, 5, 6, 4)
    # One copy of the 9x halo, straight behind the global tokens (a
    # reshape and a cat would copy it twice).
    g = 0 if extra is None else extra.shape[2]
    out = x.new_empty(b, h, mh * mw, g + 9 * w * w, c)
    out[:, :, :, g:].view(b, h, mh, mw, 3 * w, 3 * w, c).copy_(local)
    if g:
        out[:, :, :, :g] = extra[:, :, None]
    return out


class _GatherFullHalo(torch.autograd.Function):
    """:func:`_gather_full_halo` with a backward of its own.

    Autograd's backward of the gather above is slow: each in-place write
    into the halo buffer clones the whole halo gradient (``CopySlices``,
    twice per gather) and ``unfold``'s backward scatters it back through
    an intermediate 3x the map. Here the gradient of the map is nine
    shifted adds of the halo gradient's blocks, and the global tokens'
    gradient a sum over chunks. At 800x1216, ViL-Tiny's forward+backward
    spent 33 % of its time in those copies and the unfold backward.
    """

    @staticmethod
    def forward(ctx, x, window, extra):
        ctx.shape = x.shape
        ctx.window = window
        ctx.num_global = 0 if extra is None else extra.shape[2]
        return _gather_full_halo(x, window, extra)

    @staticmethod
    def backward(ctx, grad):
        b, h, rows, cols, c = ctx.shape
        w, g = ctx.window, ctx.num_global
        mh, mw = ceil_div(rows, w), ceil_div(cols, w)
        grad_extra = grad[:, :, :, :g].sum(2) if g else None
        # (B, h, mh, mw, 3 (dr), w, 3 (dc), w, C)
        halo = grad[:, :, :, g:].reshape(b, h, mh, mw, 3, w, 3, w, c)
        # The padded map as a chunk grid: (B, h, mh + 2, w, mw + 2, w, C).
        grid = grad.new_zeros(b, h, mh + 2, w, mw + 2, w, c)
        for dr in range(3):
            for dc in range(3):
                grid[:, :, dr:dr + mh, :, dc:dc + mw].add_(
                    halo[:, :, :, :, dr, :, dc].transpose(3, 4))
        grad_x = grid.view(b, h, (mh + 2) * w, (mw + 2) * w, c)
        grad_x = grad_x[:, :, w:w + rows, w:w + cols]
        return grad_x, None, grad_extra


def to_chunks(x: torch.Tensor, window: int) -> torch.Tensor:
    """``(B, h, H, W, C)`` -> ``(B, h, M, w^2, C)``, zero-padding ``H`` and
    ``W`` at the bottom/right to multiples of ``w``."""
    b, h, rows, cols, c = x.shape
    w = window
    mh, mw = ceil_div(rows, w), ceil_div(cols, w)
    x = F.pad(x, (0, 0, 0, mw * w - cols, 0, mh * w - rows))
    x = contiguous_if_symbolic(x.view(b, h, mh, w, mw, w, c).transpose(3, 4))
    return x.reshape(b, h, mh * mw, w * w, c)


def from_chunks(x: torch.Tensor, window: int, rows: int,
                cols: int) -> torch.Tensor:
    """Inverse of :func:`to_chunks`, cropped to ``rows x cols`` and
    flattened to ``(B, h, rows * cols, C)``."""
    b, h, _, _, c = x.shape
    w = window
    mh, mw = ceil_div(rows, w), ceil_div(cols, w)
    x = contiguous_if_symbolic(x.view(b, h, mh, mw, w, w, c).transpose(3, 4))
    x = x.reshape(b, h, mh * w, mw * w, c)
    return crop(x, rows, cols, dims=(2, 3)).reshape(b, h, rows * cols, c)


# The random-shift training mode k = 1..8 pairs a chunk with one neighbour,
# numbered row-major over the 3x3 neighbourhood without the centre (the
# official code's numbering).
SHIFT_NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1),
                    (1, 0), (1, 1))


class _RecomputeSavedViews:
    """``saved_tensors_hooks`` that do not keep given tensors for the
    backward: autograd saves a recipe for any view of them instead, and the
    backward recomputes the tensor (without gradients) and takes the view
    again. The recomputation must give the same values in the same memory
    layout."""

    def __init__(self, recipes):
        self.recipes = [(t.untyped_storage().data_ptr(), t.dtype, fn)
                        for t, fn in recipes]

    def pack(self, tensor):
        ptr = tensor.untyped_storage().data_ptr()
        for i, (base_ptr, dtype, _) in enumerate(self.recipes):
            if ptr == base_ptr and tensor.dtype == dtype:
                return (i, tensor.shape, tensor.stride(),
                        tensor.storage_offset())
        return tensor

    def unpack(self, packed):
        if isinstance(packed, torch.Tensor):
            return packed
        i, size, stride, offset = packed
        with torch.no_grad():
            base = self.recipes[i][2]()
        return base.as_strided(size, stride, offset)


def local_attention(q: torch.Tensor,
                    k: torch.Tensor,
                    v: torch.Tensor,
                    hw: Tuple[int, int],
                    window: int,
                    neighbour: Optional[Tuple[int, int]] = None,
                    num_global: int = 0,
                    bias: Optional[torch.Tensor] = None,
                    exact: bool = False,
                    dropout: float = 0.) -> torch.Tensor:
    """The Longformer's local attention: every query of the ``H x W`` map
    attends to the global tokens and to the keys of its chunk's halo.

    Args:
        q: ``(B, heads, H*W, hd)`` local queries, already scaled.
        k, v: ``(B, heads, g + H*W, hd)``, global tokens first.
        hw: ``(H, W)``.
        window: the chunk side ``w``.
        neighbour: ``None`` for the full halo, else the one neighbour chunk
            of random-shift training.
        num_global: ``g``.
        bias: ``(heads, w^2, g + K)`` relative position bias, or ``None``.
        exact: keep only keys within the exact sliding window.
        dropout: attention dropout probability.

    Returns:
        ``(B, heads, H*W, hd)``.

    With gradients, the gathered halos of ``k`` and ``v`` (9x their tokens)
    are not kept for the backward: it gathers them again from ``k`` and
    ``v``. Kept, they made ViL training need 1.5-2.3x the memory of the
    official sliding-chunk code. ``torch.compile`` runs this function
    outside the graph when it needs gradients: inductor's code for the
    gather and its backward trained ViL-Tiny 13 % slower than eager (and
    tracing the gather's own backward, 48 %); without gradients it compiles
    the plain computation, which is faster than eager.
    """
    if torch.compiler.is_compiling() and _needs_grad(q, k, v, bias):
        return _eager_local_attention(q, k, v, hw, window, neighbour,
                                      num_global, bias, exact, dropout)
    return _local_attention(q, k, v, hw, window, neighbour, num_global,
                            bias, exact, dropout)


def _local_attention(q, k, v, hw, window, neighbour, num_global, bias,
                     exact, dropout):
    """:func:`local_attention`."""
    b, heads, _, hd = q.shape
    rows, cols = hw
    g = num_global
    q_chunks = to_chunks(q.reshape(b, heads, rows, cols, hd), window)

    def halo(t):
        return gather_halo(t[:, :, g:].reshape(b, heads, rows, cols, hd),
                           window, neighbour, t[:, :, :g] if g else None)

    k_chunks, v_chunks = halo(k), halo(v)
    mask = local_mask_bias(rows, cols, window, exact, neighbour, g,
                           q.device, q.dtype)
    if bias is not None:
        mask = bias[:, None].to(q.dtype) + mask
    # Heads and chunks as one batch dim of 4-D tensors: the fused CPU
    # kernel takes 4-D inputs only (5-D ones went to the unfused path,
    # 3x slower at 800x1216).
    num_chunks, lq, lk = q_chunks.shape[2], q_chunks.shape[3], \
        k_chunks.shape[3]
    mask = mask.expand(heads, num_chunks, lq, lk).reshape(
        1, heads * num_chunks, lq, lk)
    hooks = nullcontext()
    if _needs_grad(k, v) and not torch.compiler.is_compiling():
        saved = _RecomputeSavedViews([(k_chunks, partial(halo, k)),
                                      (v_chunks, partial(halo, v))])
        hooks = torch.autograd.graph.saved_tensors_hooks(
            saved.pack, saved.unpack)
    with hooks:
        out = scaled_dot_product_attention(
            q_chunks.reshape(b, heads * num_chunks, lq, hd),
            k_chunks.reshape(b, heads * num_chunks, lk, hd),
            v_chunks.reshape(b, heads * num_chunks, lk, hd),
            mask, dropout_p=dropout, scale=1.)
    return from_chunks(
        out.view(b, heads, num_chunks, lq, hd), window, rows, cols)


_eager_local_attention = torch.compiler.disable(_local_attention)
