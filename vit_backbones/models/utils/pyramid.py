"""A simple feature pyramid for plain (single-stride) backbones.

DHVT and 1-D HVT keep one token grid through all blocks. For dense tasks they
take the maps of a few intermediate blocks and rescale each one with a cheap
op (XCiT/ViTDet style), so the stock mmdet/mmseg ``FPN`` can be used
unchanged:

========  =========================================================
scale     op
========  =========================================================
4         ConvTranspose(2, 2) -> norm -> activation -> ConvTranspose(2, 2)
2         ConvTranspose(2, 2)
1         identity
0.5       MaxPool(2, 2, ceil_mode=True)
0.25      MaxPool(4, 4, ceil_mode=True)
========  =========================================================

The channel count is kept, so every level has ``in_channels`` channels.

Odd grids are handled here, once for every backbone: the max-pools run in
``ceil_mode`` (a ``13 x 17`` map becomes ``7 x 9``, the border row and column
are pooled over their valid cells), and given the image size, the up-sampled
levels are cropped, so that every level at stride ``s`` of an ``H x W``
image has ``ceil(H / s) x ceil(W / s)`` cells.
"""
from fractions import Fraction
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmpretrain.models.utils import build_norm_layer

from .shape import ceil_div, crop, pool2d_ceil

_SUPPORTED_SCALES = (4, 2, 1, 0.5, 0.25)


def _build_act(act_cfg: dict) -> nn.Module:
    act_cfg = dict(act_cfg)
    act_type = act_cfg.pop('type')
    acts = dict(GELU=nn.GELU, ReLU=nn.ReLU, SiLU=nn.SiLU)
    if act_type not in acts:
        raise ValueError(f'Unsupported act_cfg type {act_type!r}; '
                         f'choose from {sorted(acts)}.')
    return acts[act_type](**act_cfg)


def ceil_scaled(size: int, scale: float, stride: int) -> int:
    """``ceil(size * scale / stride)`` in exact integer arithmetic (also for
    symbolic sizes, which ``math.ceil`` of a float does not take)."""
    ratio = Fraction(scale).limit_denominator(1 << 16) / stride
    return ceil_div(size * ratio.numerator, ratio.denominator)


class CeilMaxPool2d(nn.Module):
    """``MaxPool2d(k, k, ceil_mode=True)``, exportable with dynamic sizes
    (:func:`~vit_backbones.models.utils.shape.pool2d_ceil`)."""

    def __init__(self, kernel_size: int):
        super().__init__()
        self.kernel_size = kernel_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pool2d_ceil(x, self.kernel_size, 'max')

    def extra_repr(self) -> str:
        return f'kernel_size={self.kernel_size}, ceil_mode=True'


class SimpleFeaturePyramid(nn.Module):
    """Rescale one map per level to build a pyramid.

    Args:
        in_channels (int): channels of every input map (kept unchanged).
        scales (Sequence[float]): one rescale factor per input map, from
            ``(4, 2, 1, 0.5, 0.25)``. ``(4, 2, 1, 0.5)`` turns four stride-16
            maps into strides 4/8/16/32.
        norm_cfg (dict): norm between the two transposed convolutions of the
            x4 branch. Built with mmpretrain's registry-safe builder, so
            ``BN``, ``SyncBN``, ``GN`` and ``LN2d`` all work inside mmdet and
            mmseg runs. Defaults to ``dict(type='BN')``.
        act_cfg (dict): activation of the x4 branch. Defaults to GELU.
    """

    def __init__(self,
                 in_channels: int,
                 scales: Sequence[float] = (4, 2, 1, 0.5),
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='GELU')):
        super().__init__()
        self.in_channels = in_channels
        self.scales = tuple(scales)
        ops = []
        for scale in self.scales:
            if scale == 4:
                op = nn.Sequential(
                    nn.ConvTranspose2d(in_channels, in_channels, 2, 2),
                    build_norm_layer(norm_cfg, in_channels),
                    _build_act(act_cfg),
                    nn.ConvTranspose2d(in_channels, in_channels, 2, 2))
            elif scale == 2:
                op = nn.ConvTranspose2d(in_channels, in_channels, 2, 2)
            elif scale == 1:
                op = nn.Identity()
            elif scale == 0.5:
                op = CeilMaxPool2d(2)
            elif scale == 0.25:
                op = CeilMaxPool2d(4)
            else:
                raise ValueError(f'Unsupported pyramid scale {scale}; '
                                 f'choose from {_SUPPORTED_SCALES}.')
            ops.append(op)
        self.ops = nn.ModuleList(ops)

    def forward(self,
                inputs: Sequence[torch.Tensor],
                image_size: Optional[Tuple[int, int]] = None,
                in_strides: Optional[Sequence[int]] = None) -> list:
        """Rescale ``inputs[k]`` by ``scales[k]``.

        Args:
            inputs (Sequence[Tensor]): one ``(B, C, h, w)`` map per scale.
            image_size (tuple[int, int], optional): the ``(H, W)`` of the
                backbone's input. With it, each output at stride
                ``s = in_strides[k] / scales[k]`` is cropped to
                ``ceil(H / s) x ceil(W / s)``: the up-sampled maps of an
                input that the stride does not divide reach past the image.
                Defaults to None (no crop).
            in_strides (Sequence[int], optional): the stride of each input
                map; needed with ``image_size``.

        Returns:
            list[Tensor]: one map per scale.
        """
        if len(inputs) != len(self.ops):
            raise ValueError(f'SimpleFeaturePyramid expects {len(self.ops)} '
                             f'maps (one per scale {self.scales}), got '
                             f'{len(inputs)}.')
        outs = [op(x) for op, x in zip(self.ops, inputs)]
        if image_size is None:
            return outs
        if in_strides is None or len(in_strides) != len(outs):
            raise ValueError('SimpleFeaturePyramid needs one input stride '
                             'per map to crop to the image size.')
        return [
            crop(out, ceil_scaled(image_size[0], scale, stride),
                 ceil_scaled(image_size[1], scale, stride))
            for out, scale, stride in zip(outs, self.scales, in_strides)
        ]
