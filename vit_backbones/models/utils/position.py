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
    has ``length`` entries."""
    if table.shape[1] == length:
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
