"""Input checks, padding and shape-keyed caches shared by the backbones.

Everything here works with symbolic sizes too (``torch.export`` with dynamic
height and width): integer arithmetic instead of ``math.ceil``, and caches
that only key on concrete sizes.
"""
import functools
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks.transformer import AdaptivePadding


def check_input(x: torch.Tensor,
                in_channels: int,
                min_size: Tuple[int, int] = (1, 1),
                name: str = 'backbone') -> None:
    """Raise a ``ValueError`` naming the expected shape for bad inputs.

    Args:
        x (Tensor): the input batch.
        in_channels (int): the channel count the backbone was built for.
        min_size (tuple[int, int]): the smallest ``(H, W)`` accepted.
        name (str): the backbone's name, for the message.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x)
        raise ValueError(
            f'{name} expects a 4-D input (B, {in_channels}, H, W), '
            f'got {shape}.')
    if x.shape[1] != in_channels:
        raise ValueError(
            f'{name} expects {in_channels} input channels, i.e. a '
            f'(B, {in_channels}, H, W) input, got {tuple(x.shape)}.')
    h, w = x.shape[-2:]
    if h < min_size[0] or w < min_size[1]:
        raise ValueError(
            f'{name} needs inputs of at least {min_size[0]}x{min_size[1]} '
            f'pixels, got {h}x{w} (input shape {tuple(x.shape)}).')


def is_symbolic(*sizes) -> bool:
    """Whether any of ``sizes`` is symbolic.

    Sizes are symbolic while ``torch.export`` (and the dynamo-based ONNX
    exporter) or ``torch.compile(dynamic=True)`` traces a model with dynamic
    shapes (``torch.SymInt``), and while the TorchScript-based ONNX exporter
    (``torch.onnx.export(..., dynamo=False)``, what mmdeploy calls) traces
    it: its tracer hands out sizes as 0-dim tensors and records the
    arithmetic on them. Code that branches on a size in Python (skip the
    padding when there is none, reuse a table when the size matches) must
    take the general, branch-free path then: a branch on a symbolic size,
    or a table built once for one size, would pin the exported graph to the
    example input's case. (Other jit tracing, such as the FLOP counters',
    keeps the eager paths: it counts what eager mode runs.)
    """
    return any(isinstance(s, torch.SymInt) for s in sizes) or (
        torch.onnx.is_in_onnx_export()
        and any(isinstance(s, torch.Tensor) for s in sizes))


def ceil_div(size: int, divisor: int) -> int:
    """``ceil(size / divisor)`` for ``size >= 0`` and ``divisor > 0``, in
    integer arithmetic, so that it also holds for symbolic sizes
    (``math.ceil`` of a float does not). Written with non-negative operands
    only: ONNX's integer ``Div`` truncates, and ``-(-a // b)`` would export
    as ``floor`` instead of ``ceil``."""
    return (size + divisor - 1) // divisor


def contiguous_if_symbolic(x: torch.Tensor) -> torch.Tensor:
    """``x`` in eager mode; a contiguous copy of it when its sizes are
    symbolic.

    Before a ``reshape`` of a permuted tensor: whether that reshape can be a
    view depends on the sizes (a dim of size 1 makes it one), which
    ``torch.export`` would turn into a guard pinning the graph to the
    example input's case. ``clone`` into contiguous memory does not ask
    (``.contiguous()`` does). Eager mode lets ``reshape`` decide, as
    before.
    """
    if is_symbolic(*x.shape):
        return x.clone(memory_format=torch.contiguous_format)
    return x


def crop(x: torch.Tensor,
         height: int,
         width: int,
         dims: Tuple[int, int] = (-2, -1)) -> torch.Tensor:
    """The first ``height`` and ``width`` entries of the ``dims`` of ``x``
    (by default the last two: the top-left ``height x width`` of a map).

    A slice in eager mode. With symbolic sizes it is an ``index_select``:
    a slice that may or may not be contiguous (it is when nothing was
    padded) makes ``torch.export`` guard on that, pinning the graph to one
    case; ``index_select`` always returns a new contiguous tensor.
    """
    if not is_symbolic(height, width):
        index = [slice(None)] * x.dim()
        index[dims[0]] = slice(None, height)
        index[dims[1]] = slice(None, width)
        return x[tuple(index)]
    rows = torch.arange(height, device=x.device)
    cols = torch.arange(width, device=x.device)
    return x.index_select(dims[0], rows).index_select(dims[1], cols)


def pool2d_ceil(x: torch.Tensor, kernel_size: int, mode: str = 'avg'
                ) -> torch.Tensor:
    """Non-overlapping ``kernel_size`` pooling in ceil mode: a partial window
    at the bottom or right border pools its valid pixels only (``'avg'``
    averages them, ``'max'`` takes their maximum).

    In eager mode this is ``F.avg_pool2d``/``F.max_pool2d`` with
    ``ceil_mode=True``. With symbolic sizes the input is padded to whole
    windows and pooled without ceil mode (the average divides by the pooled
    count of valid pixels): the output size of ceil-mode pooling is
    decided in a branch that ``torch.export`` cannot prove for all sizes.
    """
    if mode not in ('avg', 'max'):
        raise ValueError(f"mode must be 'avg' or 'max', got {mode!r}.")
    k = kernel_size
    height, width = x.shape[-2:]
    if not is_symbolic(height, width):
        pool = F.avg_pool2d if mode == 'avg' else F.max_pool2d
        return pool(x, k, k, ceil_mode=True)
    pad = (0, ceil_div(width, k) * k - width, 0,
           ceil_div(height, k) * k - height)
    if mode == 'max':
        return F.max_pool2d(F.pad(x, pad, value=float('-inf')), k, k)
    valid = F.pad(x.new_ones((1, 1, height, width)), pad)
    return F.avg_pool2d(F.pad(x, pad), k, k) / F.avg_pool2d(valid, k, k)


def shape_cache(maxsize: Optional[int] = 128):
    """``functools.lru_cache`` for functions of sizes that return tensors.

    In eager mode the result is cached per argument tuple (masks and index
    tables are built once per input size). While a compiler traces the
    model, or when an argument is a symbolic size, the function runs
    uncached, so the tensors it builds become part of the traced graph and
    follow the input size (a ``SymInt`` cannot be a cache key, and a cached
    tensor would freeze one size into the graph). The results must not be
    modified in place by callers.
    """

    def decorator(fn):
        cached = functools.lru_cache(maxsize=maxsize)(fn)

        @functools.wraps(fn)
        def wrapper(*args):
            if torch.compiler.is_compiling() or is_symbolic(*args):
                return fn(*args)
            return cached(*args)

        wrapper.cache_clear = cached.cache_clear
        wrapper.cache_info = cached.cache_info
        return wrapper

    return decorator


class ExportableAdaptivePadding(AdaptivePadding):
    """mmcv's ``AdaptivePadding`` with integer arithmetic for the amounts.

    The same padding (``'corner'``: bottom/right; ``'same'``: split around
    the input) as mmcv's, computed without ``math.ceil`` or ``max`` on
    Python numbers, so ``torch.export`` keeps the input size symbolic
    instead of specializing the graph to the example input's padding. In
    eager mode it skips ``F.pad`` when nothing is padded, as mmcv's does.
    It has no parameters: swapping it into an mmcv ``PatchEmbed``
    (:func:`make_patch_embed_exportable`) changes no checkpoint key.
    """

    def get_pad_shape(self, input_shape) -> Tuple[int, int]:
        pads = []
        for size, kernel, stride, dilation in zip(input_shape,
                                                  self.kernel_size,
                                                  self.stride, self.dilation):
            pad = ((ceil_div(size, stride) - 1) * stride +
                   (kernel - 1) * dilation + 1 - size)
            # Non-negative whenever the kernel spans the stride (every patch
            # embedding here); only then is the amount branch-free.
            if (kernel - 1) * dilation + 1 < stride:
                pad = torch.sym_max(pad, 0)
            pads.append(pad)
        return pads[0], pads[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad_h, pad_w = self.get_pad_shape(x.shape[-2:])
        if not is_symbolic(pad_h, pad_w) and pad_h == 0 and pad_w == 0:
            return x
        if self.padding == 'corner':
            return F.pad(x, [0, pad_w, 0, pad_h])
        return F.pad(
            x,
            [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])


def make_patch_embed_exportable(patch_embed: nn.Module) -> nn.Module:
    """Replace the ``adaptive_padding`` of an mmcv ``PatchEmbed`` (if it
    has one) by :class:`ExportableAdaptivePadding` with the same settings.
    Returns ``patch_embed``."""
    old = getattr(patch_embed, 'adaptive_padding', None)
    if old is not None:
        patch_embed.adaptive_padding = ExportableAdaptivePadding(
            old.kernel_size, old.stride, old.dilation, old.padding)
    return patch_embed
