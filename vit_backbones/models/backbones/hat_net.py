"""HAT-Net: Vision Transformers with Hierarchical Attention.

Liu et al., "Vision Transformers with Hierarchical Attention", Machine
Intelligence Research 2024 (arXiv:2106.03180, first titled "Transformer in
Convolutional Neural Networks"). Official code: https://github.com/yun-liu/HAT-Net
(``HAT_Net.py``, release v2.0).
"""
from collections import OrderedDict
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule, ModuleList
from mmengine.model.weight_init import constant_init, trunc_normal_init
from mmpretrain.models.utils import build_norm_layer
from mmpretrain.registry import MODELS

from ..utils.attention import bool_mask_to_bias, scaled_dot_product_attention
from ..utils.shape import (ceil_div, contiguous_if_symbolic, crop,
                           is_symbolic, pool2d_ceil, shape_cache)
from .base import VitBackbone, VitStage, resolve_arch

_GN = dict(type='GN', num_groups=1, eps=1e-6)


@shape_cache(maxsize=64)
def _tile_key_bias(height: int, width: int, grid: int, device: torch.device,
                   dtype: torch.dtype) -> Optional[torch.Tensor]:
    """Additive mask hiding the padded keys of the ``grid x grid`` tiles.

    The map of ``height x width`` valid pixels is padded at the bottom and
    right to multiples of ``grid``; tile ``t`` (row-major over the tiles)
    holds pixels in row-major order. Returns ``None`` when nothing is padded,
    else a ``(num_tiles, 1, grid * grid)`` float tensor: 0 for valid keys, a
    large negative value for padded ones. Every tile holds at least one valid
    pixel (its top-left one), so no query has all its keys masked. Symbolic
    sizes (export) always get the mask: whether anything is padded is only
    known at run time.
    """
    tiles_h, tiles_w = ceil_div(height, grid), ceil_div(width, grid)
    if (not is_symbolic(height, width) and tiles_h * grid == height
            and tiles_w * grid == width):
        return None
    # Pixel rows and columns laid out (tile row, tile col, row in tile,
    # col in tile) by broadcasting, so no permute (whose reshape export
    # would have to prove) is needed.
    offsets = torch.arange(grid, device=device)
    rows = torch.arange(tiles_h, device=device) * grid
    cols = torch.arange(tiles_w, device=device) * grid
    keep = (((rows[:, None, None, None] + offsets[:, None]) < height)
            & ((cols[:, None, None] + offsets) < width))
    keep = keep.reshape(tiles_h * tiles_w, 1, grid * grid)
    return bool_mask_to_bias(keep, dtype)


class HATNetAttention(BaseModule):
    """Hierarchical multi-head self-attention (H-MHSA) of HAT-Net.

    With ``grid_size`` :math:`G_1 > 1` (the paper's stages 2-4):

    1. ``qkv`` (a 1x1 conv) of ``norm(x)`` gives queries, keys and values
       that attend within non-overlapping :math:`G_1 \\times G_1` tiles
       (local attention, no projection of its own);
    2. ``a1 = grid_norm(x + local)``;
    3. queries ``q(a1)`` at every pixel attend to keys and values
       ``kv(ds_norm(AvgPool_{G_2}(a1)))`` (global attention over the
       :math:`G_2`-pooled map);
    4. the output is ``proj(global + a1)``.

    With ``grid_size == 1`` (the last stage) it is plain MHSA over all
    pixels with ``qkv`` and ``proj``, and the layers ``grid_norm``,
    ``ds_norm``, ``q`` and ``kv`` do not exist.

    This is what the official code computes. The paper's Eqs. 6-14 differ:
    they have no ``grid_norm``/``ds_norm``, separate local projections
    (the code reuses the block's ``qkv``), and add the block input inside
    the attention only once (the code adds ``x`` inside ``a1`` and the
    block adds it again). ``proj_norm`` exists in the official module and
    its checkpoints but is never used; it is kept so that official weights
    load strictly, with ``requires_grad=False`` so that distributed training
    does not wait for its gradients.

    Any ``H x W`` is accepted. The local branch pads ``qkv`` at the bottom
    and right to multiples of :math:`G_1`, masks the padded keys and crops
    the result back; the global branch pools with ``ceil_mode=True``, i.e.
    a partial window at the border averages its valid pixels only. All
    norms see the un-padded map. See :class:`HATNet` for the guarantees.

    Args:
        embed_dims (int): channels ``C``.
        head_dim (int): channels per head (``C / head_dim`` heads).
        grid_size (int): :math:`G_1`, the tile size of the local attention;
            1 selects plain MHSA.
        ds_ratio (int): :math:`G_2`, the pooling window and stride of the
            global keys and values.
        drop_rate (float): rate of the ``Dropout2d`` after ``proj``.
        norm_cfg (dict): config of the norm layers.
        init_cfg (dict, optional): initialization config.
    """

    def __init__(self,
                 embed_dims: int,
                 head_dim: int,
                 grid_size: int = 1,
                 ds_ratio: int = 1,
                 drop_rate: float = 0.,
                 norm_cfg: dict = _GN,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if embed_dims % head_dim:
            raise ValueError(f'embed_dims {embed_dims} is not a multiple of '
                             f'head_dim {head_dim}.')
        self.embed_dims = embed_dims
        self.head_dim = head_dim
        self.num_heads = embed_dims // head_dim
        self.grid_size = grid_size
        self.ds_ratio = ds_ratio

        self.norm = build_norm_layer(norm_cfg, embed_dims)
        self.qkv = nn.Conv2d(embed_dims, embed_dims * 3, 1)
        self.proj = nn.Conv2d(embed_dims, embed_dims, 1)
        # Unused in forward, as in the official code; kept for its weights.
        # Frozen: DDP (find_unused_parameters=False) would otherwise wait
        # for gradients that never come.
        self.proj_norm = build_norm_layer(norm_cfg, embed_dims)
        self.proj_norm.requires_grad_(False)
        self.drop = nn.Dropout2d(drop_rate)
        if grid_size > 1:
            self.grid_norm = build_norm_layer(norm_cfg, embed_dims)
            self.ds_norm = build_norm_layer(norm_cfg, embed_dims)
            self.q = nn.Conv2d(embed_dims, embed_dims, 1)
            self.kv = nn.Conv2d(embed_dims, embed_dims * 2, 1)

    def _heads(self, x: torch.Tensor, parts: int) -> Tuple[torch.Tensor]:
        """``(B, parts * C, H, W)`` -> ``parts`` tensors ``(B, heads, H*W,
        head_dim)``; channels are ordered ``(parts, heads, head_dim)``.

        Read through the channels-last view: for the channels-last maps
        :class:`HATNet` runs on, it is free and leaves ``head_dim``
        contiguous, as the attention kernels want it.
        """
        b = x.shape[0]
        x = contiguous_if_symbolic(x.permute(0, 2, 3, 1)).reshape(
            b, -1, parts, self.num_heads, self.head_dim)
        return x.permute(2, 0, 3, 1, 4).unbind(0)

    def local_attention(self, qkv: torch.Tensor) -> torch.Tensor:
        """Attention inside ``grid_size`` tiles of ``qkv`` (B, 3C, H, W).

        Returns ``(B, C, H, W)``. Sizes that are not multiples of the tile
        are padded and the padded keys masked, so each border tile attends
        over its valid pixels only.
        """
        b, _, h, w = qkv.shape
        g = self.grid_size
        # Padded sizes are written as tiles * g (not h + pad) so that an
        # exporter can prove the reshapes below for every input size.
        tiles_h, tiles_w = ceil_div(h, g), ceil_div(w, g)
        # Symbolic sizes (export) always take the padded path: padding by 0
        # and cropping to the full size change nothing.
        padded = (is_symbolic(h, w) or tiles_h * g != h
                  or tiles_w * g != w)
        if padded:
            qkv = F.pad(qkv, (0, tiles_w * g - w, 0, tiles_h * g - h))
        heads, hd = self.num_heads, self.head_dim
        # Through the channels-last view (free for channels-last maps):
        # (B, th, g, tw, g, 3, heads, hd) -> (3, B*heads, th*tw, g*g, hd)
        qkv = contiguous_if_symbolic(qkv.permute(0, 2, 3, 1)).reshape(
            b, tiles_h, g, tiles_w, g, 3, heads, hd)
        qkv = contiguous_if_symbolic(qkv.permute(5, 0, 6, 1, 3, 2, 4, 7))
        qkv = qkv.reshape(3, b * heads, tiles_h * tiles_w, g * g, hd)
        q, k, v = qkv.unbind(0)
        bias = _tile_key_bias(h, w, g, qkv.device, qkv.dtype)
        out = scaled_dot_product_attention(q, k, v, attn_mask=bias)
        # (B, heads, th, tw, g, g, hd) -> (B, th, g, tw, g, heads, hd), a
        # channels-last (B, C, H, W)
        out = out.reshape(b, heads, tiles_h, tiles_w, g, g, hd)
        out = contiguous_if_symbolic(out.permute(0, 2, 4, 3, 5, 1, 6))
        out = out.reshape(b, tiles_h * g, tiles_w * g,
                          self.embed_dims).permute(0, 3, 1, 2)
        if padded:
            out = crop(out, h, w)
        return out

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """Average ``ds_ratio`` windows; a partial window at the bottom or
        right border averages its valid pixels only (``ceil_mode``)."""
        if self.ds_ratio == 1:
            return x
        return pool2d_ceil(x, self.ds_ratio, 'avg')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        qkv = self.qkv(self.norm(x))
        if self.grid_size > 1:
            a1 = self.grid_norm(x + self.local_attention(qkv))
            q, = self._heads(self.q(a1), 1)
            k, v = self._heads(self.kv(self.ds_norm(self.pool(a1))), 2)
        else:
            q, k, v = self._heads(qkv, 3)
        out = scaled_dot_product_attention(q, k, v)
        # (B, heads, H*W, hd) -> channels-last (B, C, H, W)
        out = contiguous_if_symbolic(out.transpose(1, 2))
        out = out.reshape(b, h, w, c).permute(0, 3, 1, 2)
        if self.grid_size > 1:
            out = out + a1
        return self.drop(self.proj(out))


class HATNetMLP(BaseModule):
    """HAT-Net's MLP: an inverted residual with a depth-wise conv.

    ``norm -> 1x1 conv (C -> E*C) -> act -> k x k depth-wise conv -> act ->
    dropout -> 1x1 conv (E*C -> C) -> out_norm -> dropout``; the convs have
    no bias. The branch begins with a pre-norm and ends with a norm, as in
    the official ``InvertedResidual``.

    Args:
        embed_dims (int): channels ``C``.
        mlp_ratio (int): expansion ``E``.
        kernel_size (int): size of the depth-wise kernel.
        drop_rate (float): rate of the ``Dropout2d`` layers.
        norm_cfg (dict): config of the norm layers.
        act_cfg (dict): config of the activations.
        init_cfg (dict, optional): initialization config.
    """

    def __init__(self,
                 embed_dims: int,
                 mlp_ratio: int,
                 kernel_size: int = 3,
                 drop_rate: float = 0.,
                 norm_cfg: dict = _GN,
                 act_cfg: dict = dict(type='SiLU', inplace=True),
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        hidden = embed_dims * mlp_ratio
        self.norm = build_norm_layer(norm_cfg, embed_dims)
        self.fc1 = nn.Conv2d(embed_dims, hidden, 1, bias=False)
        self.act1 = build_activation_layer(act_cfg)
        self.dwconv = nn.Conv2d(
            hidden,
            hidden,
            kernel_size,
            padding=(kernel_size - 1) // 2,
            groups=hidden,
            bias=False)
        self.act2 = build_activation_layer(act_cfg)
        self.fc2 = nn.Conv2d(hidden, embed_dims, 1, bias=False)
        self.out_norm = build_norm_layer(norm_cfg, embed_dims)
        self.drop = nn.Dropout2d(drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.fc1(self.norm(x)))
        x = self.drop(self.act2(self.dwconv(x)))
        return self.drop(self.out_norm(self.fc2(x)))


class HATNetBlock(BaseModule):
    """``x + drop_path(attn(x))`` then ``x + drop_path(mlp(x))``.

    Args:
        embed_dims (int): channels.
        head_dim (int): channels per attention head.
        grid_size (int): :math:`G_1` of :class:`HATNetAttention`.
        ds_ratio (int): :math:`G_2` of :class:`HATNetAttention`.
        mlp_ratio (int): expansion of :class:`HATNetMLP`.
        kernel_size (int): depth-wise kernel of :class:`HATNetMLP`.
        drop_rate (float): dropout rate inside both branches.
        drop_path_rate (float): stochastic depth rate of both branches.
        norm_cfg (dict): config of the norm layers.
        act_cfg (dict): config of the activations.
        init_cfg (dict, optional): initialization config.
    """

    def __init__(self,
                 embed_dims: int,
                 head_dim: int,
                 grid_size: int = 1,
                 ds_ratio: int = 1,
                 mlp_ratio: int = 4,
                 kernel_size: int = 3,
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 norm_cfg: dict = _GN,
                 act_cfg: dict = dict(type='SiLU', inplace=True),
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.attn = HATNetAttention(
            embed_dims,
            head_dim,
            grid_size=grid_size,
            ds_ratio=ds_ratio,
            drop_rate=drop_rate,
            norm_cfg=norm_cfg)
        self.mlp = HATNetMLP(
            embed_dims,
            mlp_ratio,
            kernel_size=kernel_size,
            drop_rate=drop_rate,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg)
        self.drop_path = DropPath(
            drop_path_rate) if drop_path_rate > 0. else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(x))
        return x + self.drop_path(self.mlp(x))


class HATNetDownsample(BaseModule):
    """A 3x3 stride-2 conv followed by a norm, between two stages."""

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 norm_cfg: dict = _GN,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.conv = nn.Conv2d(
            in_channels, out_channels, 3, stride=2, padding=1)
        self.norm = build_norm_layer(norm_cfg, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x))


class HATNetStage(VitStage):
    """One stage: the downsampling layer that leads into it (``None`` for
    the first stage), then its blocks.

    Args:
        blocks (Sequence[HATNetBlock]): The blocks.
        downsample (HATNetDownsample, optional): The layer leading into the
            stage. Defaults to None.
        with_cp (bool): Gradient checkpointing per block.
            Defaults to False.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 blocks: Sequence[HATNetBlock],
                 downsample: Optional[HATNetDownsample] = None,
                 with_cp: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(with_cp=with_cp, init_cfg=init_cfg)
        self.downsample = downsample
        self.blocks = ModuleList(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.downsample is not None:
            x = self.downsample(x)
        for block in self.blocks:
            x = self.run_block(block, x)
        return x


@MODELS.register_module()
class HATNet(VitBackbone):
    """HAT-Net backbone.

    A pyramid of four stages at strides 4, 8, 16 and 32: a stem of two 3x3
    stride-2 convolutions, then stacks of blocks ``x + attn(x)``,
    ``x + mlp(x)`` (:class:`HATNetBlock`), with a 3x3 stride-2 convolution
    and a norm (:class:`HATNetDownsample`) leading into stages 1-3.
    Attention is H-MHSA (:class:`HATNetAttention`: local attention in
    :math:`G_1 \\times G_1` tiles, then global attention to the
    :math:`G_2`-pooled map) in stages 0-2 and plain MHSA in stage 3; the MLP
    is an inverted residual with a depth-wise convolution
    (:class:`HATNetMLP`). Norms are ``GroupNorm(1, C)``, activations SiLU;
    there is no position embedding, so checkpoints load at any input size.
    Any input of at least ``32 x 32`` works: the local attention pads its
    tiles and masks the padded keys, the global keys pool in ceil mode, and
    a stage at stride ``s`` has ``ceil(H/s) x ceil(W/s)`` cells.

    From `Vision Transformers with Hierarchical Attention
    <https://arxiv.org/abs/2106.03180>`_ (Machine Intelligence Research
    2024). The paper's stage numbers are ours plus 2 (its stage 1 is the
    stem). ``configs/hat_net/README.md`` explains where the official code
    and the paper differ, G1/G2 and what the padding design guarantees.

    Args:
        arch (str | dict): ``'tiny'``/``'t'``, ``'small'``/``'s'``,
            ``'medium'``/``'m'``, ``'large'``/``'l'``, or a dict with
            ``embed_dims``, ``depths``, ``head_dim``, ``mlp_ratios`` and
            ``kernel_sizes`` (four entries each but ``head_dim``).
            Defaults to 'tiny'.
        in_channels (int): The input channels. Defaults to 3.
        stem_channels (int): The channels between the two stem convs.
            Defaults to 16.
        grid_sizes (Sequence[int]): :math:`G_1` per stage; 1 selects plain
            MHSA (such stages have no ``q``/``kv``/``grid_norm``/``ds_norm``
            layers, so keep the arch's 1s for its checkpoints).
            Defaults to ``(8, 7, 7, 1)`` (ImageNet; dense tasks use
            ``(8, 8, 8, 1)``).
        ds_ratios (Sequence[int]): :math:`G_2` per stage.
            Defaults to ``(8, 4, 2, 1)`` (dense tasks: ``(16, 8, 4, 1)``).
        out_indices (int | Sequence[int]): The stages to output, in this
            order. Defaults to ``(3, )``.
        out_type (str): ``'featmap'`` or ``'avg_featmap'``.
            Defaults to 'featmap'.
        drop_rate (float): ``Dropout2d`` rate inside the blocks.
            Defaults to 0.
        drop_path_rate (float): Stochastic depth, linear over all blocks
            from 0. Defaults to 0.
        norm_cfg (dict): The norm layers.
            Defaults to ``dict(type='GN', num_groups=1, eps=1e-6)``.
        act_cfg (dict): The activations. Defaults to in-place SiLU (they
            only overwrite conv and norm outputs that nothing else reads).
            An ``inplace=True`` activation runs in place in eval mode only:
            under autograd it would make autograd copy its input first
            (see :meth:`train`).
        out_norm_cfg (dict, optional): A norm ``norm{i}`` on each output, a
            norm of ``(B, C, H, W)`` maps (GN, BN or ``LN2d``).
            Defaults to None (none, as the official model).
        frozen_stages (int): -1 none, 0 the stem, ``i`` the stem and stages
            ``0 .. i-1`` with the downsampling layers leading into them and
            their output norms. Defaults to -1.
        norm_eval (bool): BN layers in eval mode while training (only BN
            ``out_norm_cfg`` has any). Defaults to False.
        with_cp (bool): Gradient checkpointing per block. Defaults to False.
        init_cfg (dict | list[dict], optional): Applied after the official
            init (truncated normal, std 0.02, for conv and linear weights,
            zero biases, unit GroupNorms). Defaults to None.

    Examples:
        >>> import torch
        >>> from vit_backbones.models import HATNet
        >>> model = HATNet(arch='tiny', grid_sizes=(8, 8, 8, 1),
        ...                ds_ratios=(16, 8, 4, 1), out_indices=(0, 1, 2, 3))
        >>> [tuple(o.shape[1:]) for o in model(torch.rand(1, 3, 97, 131))]
        [(48, 25, 33), (96, 13, 17), (240, 7, 9), (384, 4, 5)]
    """
    arch_zoo = {
        **dict.fromkeys(
            ['t', 'tiny'], {
                'embed_dims': [48, 96, 240, 384],
                'depths': [2, 2, 6, 3],
                'head_dim': 48,
                'mlp_ratios': [8, 8, 4, 4],
                'kernel_sizes': [3, 3, 3, 3],
            }),
        **dict.fromkeys(
            ['s', 'small'], {
                'embed_dims': [64, 128, 320, 512],
                'depths': [2, 3, 8, 3],
                'head_dim': 64,
                'mlp_ratios': [8, 8, 4, 4],
                'kernel_sizes': [3, 3, 3, 3],
            }),
        **dict.fromkeys(
            ['m', 'medium'], {
                'embed_dims': [64, 128, 320, 512],
                'depths': [3, 6, 18, 3],
                'head_dim': 64,
                'mlp_ratios': [8, 8, 4, 4],
                'kernel_sizes': [5, 3, 5, 3],
            }),
        **dict.fromkeys(
            ['l', 'large'], {
                'embed_dims': [64, 128, 320, 640],
                'depths': [3, 8, 27, 3],
                'head_dim': 64,
                'mlp_ratios': [8, 8, 4, 4],
                'kernel_sizes': [3, 3, 3, 3],
            }),
    }
    essential_keys = ('embed_dims', 'depths', 'head_dim', 'mlp_ratios',
                      'kernel_sizes')
    num_stages = 4
    min_size = (32, 32)

    def __init__(self,
                 arch: Union[str, dict] = 'tiny',
                 in_channels: int = 3,
                 stem_channels: int = 16,
                 grid_sizes: Sequence[int] = (8, 7, 7, 1),
                 ds_ratios: Sequence[int] = (8, 4, 2, 1),
                 out_indices: Union[int, Sequence[int]] = (3, ),
                 out_type: str = 'featmap',
                 drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 norm_cfg: dict = _GN,
                 act_cfg: dict = dict(type='SiLU', inplace=True),
                 out_norm_cfg: Optional[dict] = None,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        super().__init__(
            num_stages=self.num_stages,
            frozen_stages=frozen_stages,
            norm_eval=norm_eval,
            with_cp=with_cp,
            init_cfg=init_cfg)
        settings = resolve_arch(arch, self.arch_zoo, self.essential_keys,
                                'HATNet')
        self.embed_dims = tuple(settings['embed_dims'])
        self.depths = tuple(settings['depths'])
        self.head_dim = int(settings['head_dim'])
        self.mlp_ratios = tuple(settings['mlp_ratios'])
        self.kernel_sizes = tuple(settings['kernel_sizes'])
        self.grid_sizes = tuple(grid_sizes)
        self.ds_ratios = tuple(ds_ratios)
        for name in ('embed_dims', 'depths', 'mlp_ratios', 'kernel_sizes',
                     'grid_sizes', 'ds_ratios'):
            value = getattr(self, name)
            if len(value) != self.num_stages:
                raise ValueError(f'HATNet {name} needs {self.num_stages} '
                                 f'entries, got {value}.')
            if name in ('grid_sizes', 'ds_ratios') and any(
                    int(v) != v or v < 1 for v in value):
                raise ValueError(f'HATNet {name} must be positive integers, '
                                 f'got {value}.')
        bad = [d for d in self.embed_dims if d % self.head_dim]
        if bad:
            raise ValueError(f'HATNet embed_dims {self.embed_dims} must be '
                             f'multiples of head_dim {self.head_dim}.')
        self.in_channels = in_channels
        self.out_type = self.resolve_out_type(out_type)
        self.set_outputs(out_indices, self.num_stages)
        self.num_features = [self.embed_dims[i] for i in self.out_indices]
        self.out_channels = self.num_features

        self.patch_embed = nn.Sequential(
            OrderedDict([
                ('conv1',
                 nn.Conv2d(in_channels, stem_channels, 3, stride=2,
                           padding=1)),
                ('norm', build_norm_layer(norm_cfg, stem_channels)),
                ('act', build_activation_layer(act_cfg)),
                ('conv2',
                 nn.Conv2d(
                     stem_channels, self.embed_dims[0], 3, stride=2,
                     padding=1)),
            ]))

        total = sum(self.depths)
        dpr = [
            r.item()
            for r in torch.linspace(0, drop_path_rate, total, device='cpu')
        ]
        self.stages = ModuleList()
        for i in range(self.num_stages):
            first = sum(self.depths[:i])
            blocks = [
                HATNetBlock(
                    self.embed_dims[i],
                    self.head_dim,
                    grid_size=self.grid_sizes[i],
                    ds_ratio=self.ds_ratios[i],
                    mlp_ratio=self.mlp_ratios[i],
                    kernel_size=self.kernel_sizes[i],
                    drop_rate=drop_rate,
                    drop_path_rate=dpr[first + j],
                    norm_cfg=norm_cfg,
                    act_cfg=act_cfg) for j in range(self.depths[i])
            ]
            downsample = None
            if i > 0:
                downsample = HATNetDownsample(self.embed_dims[i - 1],
                                              self.embed_dims[i], norm_cfg)
            self.stages.append(HATNetStage(blocks, downsample, with_cp))

        self.add_out_norms(out_norm_cfg,
                           [(i, self.embed_dims[i]) for i in self.out_indices])
        # The activations whose ``inplace`` train() switches (see there).
        self._inplace_act_type = type(build_activation_layer(act_cfg)) \
            if act_cfg.get('inplace', False) else None
        self._freeze_stages()
        self._set_inplace_activations()

    def init_official_weights(self):
        """Conv and linear weights trunc-normal(0.02) with zero biases,
        GroupNorms 1/0 (the official ``_init_weights``)."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                trunc_normal_init(m, std=.02, bias=0.)
            elif isinstance(m, nn.GroupNorm):
                constant_init(m, val=1., bias=0.)

    def frozen_parts(self, stage: int) -> list:
        if stage == 0:
            return [self.patch_embed]
        return [
            self.stages[stage - 1],
            getattr(self, f'norm{stage - 1}', None)
        ]

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        # The network runs on channels-last maps: its 1x1 and depth-wise
        # convs are faster on CPU in that layout than on NCHW ones (oneDNN
        # reorders NCHW maps on every call), the attention reads its heads
        # from it without copies, and GroupNorm has a kernel for it. The
        # outputs are channels-last strided (B, C, H, W) tensors. Not under
        # export: a graph has no memory layout, and the layout checks would
        # guard symbolic sizes against 1.
        if not is_symbolic(*x.shape[2:]):
            x = x.contiguous(memory_format=torch.channels_last)
        return self.patch_embed(x)

    def forward_unit(self, index: int, x: torch.Tensor) -> torch.Tensor:
        stage = self.stages[index]
        if (stage.downsample is None and x.device.type == 'cpu'
                and torch.is_grad_enabled() and not x.requires_grad
                and any(p.requires_grad for p in stage.parameters())):
            # The first stage, trainable after a frozen stem
            # (frozen_stages=0): its first layer is a GroupNorm that would
            # see an input that needs no gradient, and PyTorch's CPU
            # channels-last GroupNorm backward crashes (segfault, torch
            # 2.13) when it computes the weight gradients without the
            # input's. Asking for the input's gradient (one unused map)
            # avoids that kernel path. Later stages begin with their
            # downsampling conv, whose output needs a gradient anyway.
            x = x.detach().requires_grad_()
        return stage(x)

    def format_output(self, index: int, x: torch.Tensor) -> torch.Tensor:
        out = self.out_norm(index, x)
        if self.out_type == 'avg_featmap':
            out = out.mean(dim=(2, 3))
        return out

    def get_layer_depth(self, param_name: str, prefix: str = ''):
        """Layer depth of a parameter, for layer-wise lr decay.

        The stem is depth 0; block ``j`` of stage ``i`` is
        ``sum(depths[:i]) + j + 1``; the downsampling layer leading into
        stage ``i`` shares the depth of the last block before it and the
        output norm ``norm{i}`` that of the last block of stage ``i``;
        anything outside the backbone (the head) is ``num_layers - 1``.

        Returns:
            tuple[int, int]: the depth and ``num_layers`` (``sum(depths) +
            2``).
        """
        num_layers = sum(self.depths) + 2
        if not param_name.startswith(prefix):
            return num_layers - 1, num_layers
        name = param_name[len(prefix):]
        parts = name.split('.')
        if parts[0] == 'patch_embed':
            depth = 0
        elif parts[0] == 'stages':
            stage = int(parts[1])
            if parts[2] == 'downsample':
                depth = sum(self.depths[:stage])
            else:
                depth = sum(self.depths[:stage]) + int(parts[3]) + 1
        elif parts[0].startswith('norm') and parts[0][4:].isdigit():
            depth = sum(self.depths[:int(parts[0][4:]) + 1])
        else:
            depth = num_layers - 1
        return depth, num_layers

    def train(self, mode: bool = True):
        """Set the mode; configured in-place activations run in place only
        where their module is in eval mode.

        An in-place SiLU overwrites the input its backward needs, so under
        autograd PyTorch first copies that input: one more pass over the
        largest maps of every block (the ``E*C``-channel MLP maps) and a
        fresh allocation of their size, both memory-bound. Out of place, the
        saved tensor is the conv output itself, and the result is the same.
        In eval mode (and in frozen stages), where no graph needs the input,
        in place saves that memory.
        """
        super().train(mode)
        self._set_inplace_activations()
        return self

    def _set_inplace_activations(self):
        if self._inplace_act_type is None:
            return
        for module in self.modules():
            if type(module) is self._inplace_act_type:
                module.inplace = not module.training


__all__ = [
    'HATNet', 'HATNetAttention', 'HATNetBlock', 'HATNetMLP',
    'HATNetDownsample', 'HATNetStage'
]
