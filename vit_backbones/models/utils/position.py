"""Position tables: the resizing rules the backbones share.

2-D patch position embeddings are resized with mmpretrain's
``resize_pos_embed`` (bicubic on the grid); these helpers cover what it does
not: 1-D tables along a sequence (HVT's pooled stages, ViL's separable
row/column tables), ``(rows * cols, heads)`` relative-position bias tables
(ViL), and the square grid a checkpoint's token count implies.
"""
import math
from typing import Tuple

import torch
import torch.nn.functional as F
from mmpretrain.models.utils import resize_pos_embed

from .shape import is_symbolic


def square_grid_side(num_tokens: int, name: str = 'position table') -> int:
    """The side of the square grid that ``num_tokens`` tokens fill.

    Raises:
        ValueError: when ``num_tokens`` is not a perfect square, naming the
            table, so a checkpoint of a non-square model is refused instead
            of being resized wrongly.
    """
    side = math.isqrt(num_tokens)
    if side * side != num_tokens:
        raise ValueError(
            f'Cannot resize {name} of {num_tokens} tokens: not a square '
            'grid. Build the model with the input size the checkpoint was '
            'trained at.')
    return side


def resize_pos_embed_1d(table: torch.Tensor, length: int) -> torch.Tensor:
    """Resize a ``(1, L, C)`` table to ``(1, length, C)`` by linear
    interpolation along ``L`` (``align_corners=False``), computed in fp32 and
    returned in the table's dtype. Returns the table itself when it already
    has ``length`` entries (a symbolic ``length`` is always interpolated: at
    the same length that is exact)."""
    if not is_symbolic(length) and table.shape[1] == length:
        return table
    out = F.interpolate(
        table.transpose(1, 2).float(),
        size=length,
        mode='linear',
        align_corners=False)
    return out.transpose(1, 2).to(table.dtype)


def resize_rel_pos_table(table: torch.Tensor, src_hw: Tuple[int, int],
                         dst_hw: Tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of a ``(rows * cols, heads)`` relative-position bias
    table laid out row-major on a ``src_hw`` grid to a ``dst_hw`` grid."""
    grid = table.t().reshape(1, -1, *src_hw)
    grid = F.interpolate(
        grid, size=tuple(dst_hw), mode='bilinear', align_corners=False)
    return grid.reshape(-1, dst_hw[0] * dst_hw[1]).t()


def resize_pos_embed_2d(pos_embed: torch.Tensor, src_hw: Tuple[int, int],
                        dst_hw: Tuple[int, int],
                        mode: str = 'bicubic') -> torch.Tensor:
    """Resize a ``(1, h * w, C)`` grid table (no extra tokens) from
    ``src_hw`` to ``dst_hw``: mmpretrain's ``resize_pos_embed`` in eager
    mode. A symbolic ``dst_hw`` (export) is always interpolated, without
    mmpretrain's same-size shortcut, which would pin the exported graph to
    the example input's size; at the same size the interpolation is
    exact."""
    if not is_symbolic(*dst_hw):
        return resize_pos_embed(
            pos_embed, src_hw, dst_hw, mode=mode, num_extra_tokens=0)
    _, _, channels = pos_embed.shape
    grid = pos_embed.reshape(1, *src_hw, channels).permute(0, 3, 1, 2)
    grid = F.interpolate(
        grid.float(), size=tuple(dst_hw), mode=mode, align_corners=False)
    return grid.flatten(2).transpose(1, 2).to(pos_embed.dtype)
