"""ViL: the Multi-Scale Vision Longformer (Zhang et al., ICCV 2021).

The network is a stack of 3 or 4 "E-ViT" stages. Each stage embeds the
previous map with a strided convolution (patch size ``p``), prepends
``num_global_tokens`` learned global tokens, adds a position encoding and runs
pre-norm transformer blocks whose attention is either full self-attention or
the Vision Longformer: every token attends to the global tokens and to a local
2-D neighbourhood; the global tokens attend to everything. Global tokens are
dropped at the end of every stage.

Reference: https://arxiv.org/abs/2103.15358 and the official code,
https://github.com/microsoft/vision-longformer (classification) and
https://github.com/microsoft/VisionLongformerForObjectDetection (detectron2).
"""
import re
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn.bricks import DropPath
from mmcv.cnn.bricks.transformer import FFN, PatchEmbed
from mmengine.logging import print_log
from mmengine.model import BaseModule, ModuleList
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.utils import build_norm_layer
from mmpretrain.registry import MODELS

from ..utils import (ceil_div, is_symbolic,
                     make_patch_embed_exportable, resize_pos_embed_1d,
                     resize_rel_pos_table, scaled_dot_product_attention,
                     square_grid_side)
from ..utils.longformer import (SHIFT_NEIGHBOURS, full_rpb_index,
                                halo_covers_map, local_attention,
                                local_rpb_index, map_mask_bias,
                                map_rpb_index)
from .base import VitBackbone, VitStage, renamed_argument, resolve_arch

ATTN_TYPES = ('full', 'longformer')
POS_EMBEDS = ('ape', 'rpb')


class ViLAttention(BaseModule):
    """Multi-head attention of a ViL block, full or Vision Longformer.

    Global and local tokens share the ``query``, ``kv`` and ``proj``
    projections (the official ``SHARE_W=True`` of every released model).

    * ``attn_type='full'``: every token attends to every token.
    * ``attn_type='longformer'``: the ``H x W`` map is cut into
      ``window x window`` chunks, zero-padded at the bottom/right. A query
      of chunk ``(i, j)`` attends to all global tokens and to the keys of the
      3x3 chunks around ``(i, j)`` that lie inside the map: a chunk-aligned
      ``3w x 3w`` window, truncated at the border (official ``SW_EXACT=0``,
      the released checkpoints). ``exact_window=True`` keeps only keys
      within ``w`` rows and columns of the query, the paper's conv-like
      ``(2w + 1)^2`` window (official ``SW_EXACT=1``). Global queries attend
      to all tokens.

    The local attention gathers each chunk's halo of keys and values
    (``pad`` + ``unfold``) and runs one SDPA call with an additive mask that
    holds the relative position bias and a large negative value where a key
    is outside the map (or the exact window). The geometric part of the mask
    is built once per map size and cached; nothing loops over positions.
    A map of at most 2x2 chunks (14x14 tokens at ``w = 7``: the third stage
    at 224) lies inside every chunk's halo, so there the same attention
    runs dense over the map, with the table's bias at each pair's offset:
    no gather, and no zero keys (5 of a halo's 9 chunks would be padding).

    Random-shift training (official ``MODE>0``): while ``random_shift`` is
    set and the module is training, each forward samples one of the eight
    neighbours and every chunk attends to itself plus that neighbour chunk
    (plus the global tokens). Evaluation always uses all nine chunks.

    Args:
        embed_dims (int): channels.
        num_heads (int): heads.
        num_global_tokens (int): global tokens at the head of the sequence.
        attn_type (str): ``'full'`` or ``'longformer'``.
        window_size (int): chunk size ``w`` of the Longformer.
        rel_pos_bias (bool): relative position bias (official ``a0``).
        feat_size (tuple[int, int]): map size the full-attention bias table
            is built for; other sizes interpolate the table.
        exact_window (bool): official ``SW_EXACT=1``.
        random_shift (bool): official ``MODE=1`` while training.
        qkv_bias (bool): bias of ``query`` and ``kv``.
        attn_drop (float): attention dropout.
        proj_drop (float): dropout after ``proj``.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 num_global_tokens: int = 1,
                 attn_type: str = 'longformer',
                 window_size: int = 7,
                 rel_pos_bias: bool = True,
                 feat_size: Tuple[int, int] = (14, 14),
                 exact_window: bool = False,
                 random_shift: bool = False,
                 qkv_bias: bool = True,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if attn_type not in ATTN_TYPES:
            raise ValueError(f'attn_type must be one of {ATTN_TYPES}, got '
                             f'{attn_type!r}.')
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims {embed_dims} is not divisible by '
                             f'num_heads {num_heads}.')
        if exact_window and random_shift:
            raise ValueError(
                'random_shift is defined for the chunk window only (the '
                'official code raises for SW_EXACT=1 with MODE>0).')
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.head_dims = embed_dims // num_heads
        self.scale = self.head_dims**-0.5
        self.num_global_tokens = num_global_tokens
        self.attn_type = attn_type
        self.window_size = window_size
        self.exact_window = exact_window
        self.random_shift = random_shift
        self.feat_size = tuple(feat_size)
        self.attn_drop = attn_drop

        self.query = nn.Linear(embed_dims, embed_dims, bias=qkv_bias)
        self.kv = nn.Linear(embed_dims, embed_dims * 2, bias=qkv_bias)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)

        self.rel_pos_bias = rel_pos_bias
        if rel_pos_bias:
            self.local_relative_position_bias_table = nn.Parameter(
                torch.zeros(self.table_size[0] * self.table_size[1],
                            num_heads))
            if num_global_tokens:
                # [0]: global query -> local key, [1]: local query -> global
                # key; one value per head and global token.
                self.g2l_relative_position_bias = nn.Parameter(
                    torch.zeros(2, num_heads, num_global_tokens))
                self.g2g_relative_position_bias = nn.Parameter(
                    torch.zeros(num_heads, num_global_tokens,
                                num_global_tokens))

    @property
    def table_size(self) -> Tuple[int, int]:
        """Rows and columns of the local relative-position table."""
        if self.attn_type == 'longformer':
            side = 4 * self.window_size - 1
            return side, side
        return 2 * self.feat_size[0] - 1, 2 * self.feat_size[1] - 1

    def sample_neighbour(self) -> Optional[Tuple[int, int]]:
        """The neighbour chunk of this forward (``None``: all eight)."""
        if not (self.random_shift and self.training
                and self.attn_type == 'longformer'):
            return None
        # torch's generator, so that checkpointed blocks draw the same
        # neighbour again when they recompute.
        return SHIFT_NEIGHBOURS[int(torch.randint(8, ()))]

    # -- biases ------------------------------------------------------------
    def _global_query_bias(self, num_local: int) -> Optional[torch.Tensor]:
        """``(heads, g, g + num_local)``: g2g, then g2l[0] for every local
        key."""
        if not self.rel_pos_bias or not self.num_global_tokens:
            return None
        g2l = self.g2l_relative_position_bias[0]
        return torch.cat(
            [self.g2g_relative_position_bias,
             g2l[..., None].expand(-1, -1, num_local)], dim=-1)

    def _full_attention_bias(self, hw: Tuple[int, int]) -> torch.Tensor:
        """``(heads, N, N)`` bias of full attention over ``g + H*W``
        tokens; the local table is interpolated for sizes other than
        ``feat_size``."""
        table = self.local_relative_position_bias_table
        # Export (symbolic sizes) always resizes: a resize to the same size
        # is exact.
        if is_symbolic(*hw) or tuple(hw) != self.feat_size:
            table = resize_rel_pos_table(table, self.table_size,
                                         (2 * hw[0] - 1, 2 * hw[1] - 1))
        index = full_rpb_index(*hw).to(table.device)
        return self._with_global_bias(table[index].permute(2, 0, 1))

    def _covered_map_bias(self, hw: Tuple[int, int],
                          dtype: torch.dtype) -> Optional[torch.Tensor]:
        """``(heads or 1, N, N)`` bias of the Longformer over ``g + H*W``
        tokens when every chunk's halo holds the whole map
        (:func:`halo_covers_map`): the local table at each pair's offset,
        and the exact window as a mask."""
        bias = None
        if self.rel_pos_bias:
            table = self.local_relative_position_bias_table
            index = map_rpb_index(*hw, self.window_size).to(table.device)
            bias = self._with_global_bias(
                table[index].permute(2, 0, 1)).to(dtype)
        if self.exact_window:
            mask = map_mask_bias(*hw, self.window_size,
                                 self.num_global_tokens,
                                 self.proj.weight.device, dtype)
            bias = mask if bias is None else bias + mask
        return bias

    def _with_global_bias(self, local: torch.Tensor) -> torch.Tensor:
        """``(heads, HW, HW)`` local-to-local bias -> ``(heads, N, N)``
        with the global rows and columns."""
        if not self.num_global_tokens:
            return local
        g2l = self.g2l_relative_position_bias[1]
        bias = torch.cat(
            [g2l[:, None].expand(-1, local.shape[1], -1), local], dim=-1)
        return torch.cat([self._global_query_bias(bias.shape[1]), bias],
                         dim=1)

    # -- forward -----------------------------------------------------------
    def forward(self, x: torch.Tensor, hw: Tuple[int, int],
                neighbour: Optional[Tuple[int, int]] = None) -> torch.Tensor:
        """``x``: ``(B, g + H*W, C)``, global tokens first."""
        b, n, c = x.shape
        g = self.num_global_tokens
        heads, hd = self.num_heads, self.head_dims
        q = (self.query(x) * self.scale).view(b, n, heads, hd).transpose(1, 2)
        k, v = self.kv(x).view(b, n, 2, heads, hd).permute(2, 0, 3, 1, 4)
        dropout = self.attn_drop if self.training else 0.

        if self.attn_type == 'full':
            mask = self._full_attention_bias(hw) if self.rel_pos_bias \
                else None
            out = scaled_dot_product_attention(
                q, k, v, mask, dropout_p=dropout, scale=1.)
        elif neighbour is None and halo_covers_map(*hw, self.window_size):
            out = scaled_dot_product_attention(
                q, k, v, self._covered_map_bias(hw, q.dtype),
                dropout_p=dropout, scale=1.)
        else:
            local = self._longformer(q[:, :, g:], k, v, hw, neighbour,
                                     dropout)
            if g:
                glob = scaled_dot_product_attention(
                    q[:, :, :g], k, v, self._global_query_bias(n - g),
                    dropout_p=dropout, scale=1.)
                out = torch.cat([glob, local], dim=2)
            else:
                out = local
        out = out.transpose(1, 2).reshape(b, n, c)
        return self.proj_drop(self.proj(out))

    def _longformer(self, q, k, v, hw, neighbour, dropout):
        """Local queries ``(B, heads, H*W, hd)`` -> same shape."""
        g, w = self.num_global_tokens, self.window_size
        bias = None
        if self.rel_pos_bias:
            index = local_rpb_index(w, neighbour).to(q.device)
            bias = self.local_relative_position_bias_table[index]
            bias = bias.permute(2, 0, 1)  # (h, w^2, K_local)
            if g:
                g2l = self.g2l_relative_position_bias[1]  # (h, g)
                bias = torch.cat(
                    [g2l[:, None].expand(-1, bias.shape[1], -1), bias], -1)
        return local_attention(
            q, k, v, hw, w, neighbour, num_global=g, bias=bias,
            exact=self.exact_window, dropout=dropout)


class ViLBlock(BaseModule):
    """Pre-norm block: ``x + attn(norm1(x))``, then ``x + ffn(norm2(x))``
    (the official AttnBlock and MlpBlock, which share one drop-path
    rate)."""

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 mlp_ratio: float = 4.,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 attn_cfg: dict = dict(),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)
        self.attn = ViLAttention(
            embed_dims, num_heads, attn_drop=attn_drop_rate,
            proj_drop=drop_rate, **attn_cfg)
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)
        self.ffn = FFN(
            embed_dims=embed_dims,
            feedforward_channels=int(embed_dims * mlp_ratio),
            num_fcs=2,
            ffn_drop=drop_rate,
            dropout_layer=dict(type='DropPath', drop_prob=drop_path_rate)
            if drop_path_rate > 0 else None,
            act_cfg=dict(type='GELU'),
            add_identity=True)
        self.drop_path = DropPath(drop_path_rate) \
            if drop_path_rate > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, hw: Tuple[int, int],
                neighbour: Optional[Tuple[int, int]] = None) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x), hw, neighbour))
        return self.ffn(self.norm2(x), identity=x)


class ViLStage(VitStage):
    """One E-ViT stage: patch embedding, global tokens, position encoding
    and blocks. ``forward`` maps the previous ``(B, C, H, W)`` map (or the
    image) to this stage's map: the local tokens, the global tokens
    dropped."""

    def __init__(self,
                 in_channels: int,
                 embed_dims: int,
                 num_heads: int,
                 patch_size: int,
                 num_global_tokens: int,
                 attn_type: str,
                 window_size: int,
                 pos_embed: str,
                 feat_size: Tuple[int, int],
                 drop_path_rates: Sequence[float],
                 mlp_ratio: float = 4.,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 qkv_bias: bool = True,
                 exact_window: bool = False,
                 random_shift: bool = False,
                 ape_resize: str = 'interpolate',
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 patch_norm: bool = True,
                 with_cp: bool = False,
                 init_cfg=None):
        super().__init__(with_cp=with_cp, init_cfg=init_cfg)
        self.embed_dims = embed_dims
        self.num_global_tokens = num_global_tokens
        self.feat_size = tuple(feat_size)
        self.pos_embed = pos_embed
        self.ape_resize = ape_resize
        # A strided convolution with a LayerNorm on the tokens; the input is
        # zero-padded at the bottom/right to a multiple of the patch size.
        self.patch_embed = make_patch_embed_exportable(
            PatchEmbed(
                in_channels=in_channels,
                embed_dims=embed_dims,
                conv_type='Conv2d',
                kernel_size=patch_size,
                stride=patch_size,
                padding='corner',
                norm_cfg=norm_cfg if patch_norm else None))
        if num_global_tokens:
            self.global_tokens = nn.Parameter(
                torch.zeros(1, num_global_tokens, embed_dims))
        if pos_embed == 'ape':
            if embed_dims % 2:
                raise ValueError('The separable absolute position embedding '
                                 f'needs even embed_dims, got {embed_dims}.')
            if num_global_tokens:
                self.pos_embed_global = nn.Parameter(
                    torch.zeros(1, num_global_tokens, embed_dims))
            self.pos_embed_row = nn.Parameter(
                torch.zeros(1, feat_size[0], embed_dims // 2))
            self.pos_embed_col = nn.Parameter(
                torch.zeros(1, feat_size[1], embed_dims // 2))
        self.drop_after_pos = nn.Dropout(drop_rate)
        attn_cfg = dict(
            num_global_tokens=num_global_tokens,
            attn_type=attn_type,
            window_size=window_size,
            rel_pos_bias=pos_embed == 'rpb',
            feat_size=feat_size,
            exact_window=exact_window,
            random_shift=random_shift,
            qkv_bias=qkv_bias)
        self.blocks = ModuleList([
            ViLBlock(
                embed_dims, num_heads, mlp_ratio=mlp_ratio,
                drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
                drop_path_rate=rate, norm_cfg=norm_cfg, attn_cfg=attn_cfg)
            for rate in drop_path_rates
        ])

    def stem_parameters(self) -> List[nn.Parameter]:
        return [
            getattr(self, name) for name in ('global_tokens',
                                             'pos_embed_global',
                                             'pos_embed_row', 'pos_embed_col')
            if hasattr(self, name)
        ]

    def _abs_pos_embed(self, hw: Tuple[int, int]) -> torch.Tensor:
        row, col = self.pos_embed_row, self.pos_embed_col
        if self.ape_resize == 'slice':
            if hw[0] > row.shape[1] or hw[1] > col.shape[1]:
                raise ValueError(
                    f'A {hw[0]}x{hw[1]} map exceeds the {row.shape[1]}x'
                    f'{col.shape[1]} position tables (ape_resize="slice"); '
                    'raise img_size.')
            row, col = row[:, :hw[0]], col[:, :hw[1]]
        else:
            row = resize_pos_embed_1d(row, hw[0])
            col = resize_pos_embed_1d(col, hw[1])
        grid = torch.cat([
            row[:, :, None].expand(-1, -1, hw[1], -1),
            col[:, None].expand(-1, hw[0], -1, -1)
        ], dim=-1).flatten(1, 2)
        if self.num_global_tokens:
            grid = torch.cat([self.pos_embed_global, grid], dim=1)
        return grid

    def embed(self, x: torch.Tensor) -> Tuple[torch.Tensor, tuple]:
        x, hw = self.patch_embed(x)
        hw = tuple(hw)
        if self.num_global_tokens:
            x = torch.cat(
                [self.global_tokens.expand(x.shape[0], -1, -1), x], dim=1)
        if self.pos_embed == 'ape':
            x = x + self._abs_pos_embed(hw)
        return self.drop_after_pos(x), hw

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, hw = self.embed(x)
        for block in self.blocks:
            # Drawn outside the block, so that a checkpointed block draws
            # nothing again when it recomputes.
            neighbour = block.attn.sample_neighbour()
            x = self.run_block(block, x, hw, neighbour)
        # Drop the global tokens; the local ones form the map (a view).
        x = x[:, self.num_global_tokens:]
        return x.transpose(1, 2).reshape(x.shape[0], -1, *hw)


@MODELS.register_module()
class ViL(VitBackbone):
    """Multi-Scale Vision Longformer (ViL).

    A pyramid of 3 or 4 stages (strides 4/8/16/32, or 8/16/32 for the
    3-stage models). Each stage embeds the previous map with a strided
    convolution and a LayerNorm (mmcv's ``PatchEmbed``), prepends learned
    global tokens, adds a position encoding (separable absolute ``'ape'``,
    or a relative position bias in every attention, ``'rpb'``) and runs
    pre-norm blocks whose attention is full or the Vision Longformer
    (:class:`ViLAttention`); the global tokens are dropped at the end of
    the stage. Any input size works: each stage pads to its patch size, the
    Longformer to its window (masked), and a stage at stride ``s`` has
    ``ceil(H/s) x ceil(W/s)`` tokens.

    From `Multi-Scale Vision Longformer: A New Vision Transformer for
    High-Resolution Image Encoding <https://arxiv.org/abs/2103.15358>`_
    (ICCV 2021). ``configs/vil/README.md`` explains the layouts, the
    random-shift training, the adaptation of classification checkpoints to
    the detection layout and where the official code and the paper differ.

    Args:
        arch (str | dict): A name of :attr:`arch_zoo` (the paper's Table 1),
            a dict with ``embed_dims``, ``depths``, ``num_heads`` and
            ``patch_sizes``, or an official arch string such as
            ``'l1,h1,d48,n1,s1,g1,p4,f7,a0_l2,...'`` (which also fixes the
            attention types, global tokens, windows and position encoding;
            see :meth:`parse_official_arch`). Defaults to 'tiny'.
        img_size (int | tuple): The size the position tables are built for;
            other sizes resize them. Defaults to 224.
        in_channels (int): The input channels. Defaults to 3.
        attn_types (str | Sequence[str], optional): ``'full'`` or
            ``'longformer'`` per stage (one str for all). Defaults to None:
            Longformer in all stages but the last two.
        num_global_tokens (int | Sequence[int], optional): Per stage.
            Defaults to None: one in every stage but the last.
        window_size (int | Sequence[int], optional): The Longformer chunk
            size per stage. Defaults to None: 7.
        pos_embed (str | Sequence[str], optional): ``'rpb'`` or ``'ape'``
            per stage. Defaults to None: ``'rpb'``.
        exact_window (bool): The paper's conv-like window (official
            ``SW_EXACT=1``). Defaults to False.
        random_shift (bool): The official random-shift training
            (``MODE=1``); ``ViLRandomShiftHook`` switches it off during
            training. Defaults to False.
        out_indices (int | Sequence[int]): The stages to output, in this
            order. Defaults to -1.
        out_type (str): ``'featmap'`` or ``'avg_featmap'``.
            Defaults to 'featmap'.
        out_norm_cfg (dict, optional): A norm ``norm{i}`` on each output;
            ``norm{last}`` is the final LayerNorm of the official
            classifier; the official dense models have none (None).
            Defaults to ``dict(type='LN', eps=1e-6)``.
        mlp_ratio (float): The MLP expansion. Defaults to 4.
        qkv_bias (bool): The bias of the query/key/value projections.
            Defaults to True.
        drop_rate (float): Dropout after the position embedding, in the MLPs
            and after the attention projections. Defaults to 0.
        attn_drop_rate (float): Attention dropout. Defaults to 0.
        drop_path_rate (float): Stochastic depth of the last block, linear
            over all blocks. Defaults to 0.1.
        ape_resize (str): ``'interpolate'`` the absolute position tables
            for other sizes, or ``'slice'`` their leading rows (the official
            detectron2 code). Defaults to 'interpolate'.
        norm_cfg (dict): The LayerNorms.
            Defaults to ``dict(type='LN', eps=1e-6)``.
        frozen_stages (int): -1 none, 0 the stem (first patch embedding,
            its global tokens and position tables), ``i`` the stem and the
            first ``i`` stages. Defaults to -1.
        norm_eval (bool): BN layers in eval mode (ViL has LayerNorms only).
            Defaults to False.
        with_cp (bool): Gradient checkpointing per block. Defaults to False.
        init_cfg (dict | list[dict], optional): Applied after the official
            init. Defaults to None.
        out_norms (bool, optional): Deprecated; ``False`` is
            ``out_norm_cfg=None``.

    Examples:
        >>> import torch
        >>> from vit_backbones.models import ViL
        >>> model = ViL(arch='tiny', attn_types='longformer',
        ...             num_global_tokens=(1, 1, 1, 0), out_norm_cfg=None,
        ...             out_indices=(0, 1, 2, 3))
        >>> [tuple(o.shape[-2:]) for o in model(torch.rand(1, 3, 97, 131))]
        [(25, 33), (13, 17), (7, 9), (4, 5)]
    """
    arch_zoo = {
        **dict.fromkeys(['t', 'tiny'], {
            'embed_dims': [48, 96, 192, 384],
            'depths': [1, 1, 9, 1],
            'num_heads': [1, 3, 3, 6],
            'patch_sizes': [4, 2, 2, 2]}),
        **dict.fromkeys(['s', 'small'], {
            'embed_dims': [96, 192, 384, 768],
            'depths': [1, 2, 8, 1],
            'num_heads': [3, 3, 6, 12],
            'patch_sizes': [4, 2, 2, 2]}),
        **dict.fromkeys(['md', 'medium-d', 'medium-deep'], {
            'embed_dims': [96, 192, 384, 768],
            'depths': [1, 4, 16, 1],
            'num_heads': [3, 3, 6, 12],
            'patch_sizes': [4, 2, 2, 2]}),
        **dict.fromkeys(['mw', 'medium-w', 'medium-wide'], {
            'embed_dims': [192, 384, 512, 768],
            'depths': [1, 2, 8, 1],
            'num_heads': [3, 6, 8, 12],
            'patch_sizes': [4, 2, 2, 2]}),
        **dict.fromkeys(['bd', 'base-d', 'base-deep'], {
            'embed_dims': [96, 192, 384, 768],
            'depths': [1, 8, 24, 1],
            'num_heads': [3, 3, 6, 12],
            'patch_sizes': [4, 2, 2, 2]}),
        **dict.fromkeys(['bw', 'base-w', 'base-wide'], {
            'embed_dims': [192, 384, 768, 1024],
            'depths': [1, 2, 8, 1],
            'num_heads': [3, 6, 12, 16],
            'patch_sizes': [4, 2, 2, 2]}),
        **dict.fromkeys(['t3', 'tiny-3stage'], {
            'embed_dims': [96, 192, 384],
            'depths': [2, 9, 1],
            'num_heads': [3, 3, 6],
            'patch_sizes': [8, 2, 2]}),
        **dict.fromkeys(['s3', 'small-3stage'], {
            'embed_dims': [192, 384, 768],
            'depths': [2, 9, 1],
            'num_heads': [3, 6, 12],
            'patch_sizes': [8, 2, 2]}),
    }
    essential_keys = {'embed_dims', 'depths', 'num_heads', 'patch_sizes'}
    # Every stage pads to its patch size and the Longformer to its window.
    min_size = (1, 1)

    def __init__(self,
                 arch: Union[str, dict] = 'tiny',
                 img_size: Union[int, Tuple[int, int]] = 224,
                 in_channels: int = 3,
                 attn_types: Optional[Union[str, Sequence[str]]] = None,
                 num_global_tokens: Optional[Union[int, Sequence[int]]] = None,
                 window_size: Optional[Union[int, Sequence[int]]] = None,
                 pos_embed: Optional[Union[str, Sequence[str]]] = None,
                 exact_window: bool = False,
                 random_shift: bool = False,
                 out_indices: Union[int, Sequence[int]] = -1,
                 out_type: str = 'featmap',
                 out_norm_cfg: Optional[dict] = dict(type='LN', eps=1e-6),
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.1,
                 ape_resize: str = 'interpolate',
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 init_cfg: Optional[dict] = None,
                 out_norms: Optional[bool] = None):
        out_norm_cfg = renamed_argument(
            'ViL', 'out_norms', out_norms, 'out_norm_cfg',
            None if out_norms is not None else out_norm_cfg,
            lambda on: dict(norm_cfg) if on else None)
        stage_kwargs = dict(
            attn_types=attn_types, num_global_tokens=num_global_tokens,
            window_size=window_size, pos_embed=pos_embed)
        if isinstance(arch, str) and ',' in arch:
            given = [k for k, v in stage_kwargs.items() if v is not None]
            if given:
                raise ValueError(
                    f'The official arch string sets {given} already; do not '
                    'pass them as well.')
            parsed = self.parse_official_arch(arch)
            arch = {k: parsed.pop(k) for k in self.essential_keys}
            stage_kwargs = parsed
        self.arch_settings = resolve_arch(arch, self.arch_zoo,
                                          self.essential_keys, 'ViL')
        settings = self.arch_settings
        num_stages = len(settings['depths'])
        if num_stages not in (3, 4):
            raise ValueError(f'ViL has 3 or 4 stages, got {num_stages}.')
        for key in self.essential_keys:
            if len(settings[key]) != num_stages:
                raise ValueError(
                    f'arch["{key}"] must have {num_stages} entries, got '
                    f'{settings[key]}.')
        super().__init__(num_stages, frozen_stages, norm_eval, with_cp,
                         init_cfg)
        self.num_stages = num_stages
        self.embed_dims = list(settings['embed_dims'])
        self.depths = list(settings['depths'])
        self.num_heads = list(settings['num_heads'])
        self.patch_sizes = list(settings['patch_sizes'])

        default_attn = ['longformer'] * (num_stages - 2) + ['full'] * 2
        default_glo = [1] * (num_stages - 1) + [0]
        self.attn_types = self._per_stage(stage_kwargs['attn_types'],
                                          default_attn, 'attn_types', str)
        self.num_global_tokens = self._per_stage(
            stage_kwargs['num_global_tokens'], default_glo,
            'num_global_tokens', int)
        self.window_sizes = self._per_stage(stage_kwargs['window_size'],
                                            [7] * num_stages, 'window_size',
                                            int)
        self.pos_embeds = self._per_stage(stage_kwargs['pos_embed'],
                                          ['rpb'] * num_stages, 'pos_embed',
                                          str)
        for value in self.attn_types:
            if value not in ATTN_TYPES:
                raise ValueError(f'attn_types entries must be in '
                                 f'{ATTN_TYPES}, got {value!r}.')
        for value in self.pos_embeds:
            if value not in POS_EMBEDS:
                raise ValueError(f'pos_embed entries must be in '
                                 f'{POS_EMBEDS}, got {value!r}.')
        if ape_resize not in ('interpolate', 'slice'):
            raise ValueError('ape_resize must be "interpolate" or "slice", '
                             f'got {ape_resize!r}.')
        self.out_type = self.resolve_out_type(out_type)
        self.set_outputs(out_indices, num_stages)
        self.in_channels = in_channels
        # The global tokens in the sequences of the last stage's blocks.
        self.num_extra_tokens = self.num_global_tokens[-1]
        self.img_size = (img_size, img_size) if isinstance(
            img_size, int) else tuple(img_size)

        rates = torch.linspace(
            0, drop_path_rate, sum(self.depths), device='cpu').tolist()
        feat = self.img_size
        self.stages = ModuleList()
        channels = in_channels
        for s in range(num_stages):
            p = self.patch_sizes[s]
            feat = (ceil_div(feat[0], p), ceil_div(feat[1], p))
            start = sum(self.depths[:s])
            self.stages.append(
                ViLStage(
                    in_channels=channels,
                    embed_dims=self.embed_dims[s],
                    num_heads=self.num_heads[s],
                    patch_size=p,
                    num_global_tokens=self.num_global_tokens[s],
                    attn_type=self.attn_types[s],
                    window_size=self.window_sizes[s],
                    pos_embed=self.pos_embeds[s],
                    feat_size=feat,
                    drop_path_rates=rates[start:start + self.depths[s]],
                    mlp_ratio=mlp_ratio,
                    drop_rate=drop_rate,
                    attn_drop_rate=attn_drop_rate,
                    qkv_bias=qkv_bias,
                    exact_window=exact_window,
                    random_shift=random_shift,
                    ape_resize=ape_resize,
                    norm_cfg=norm_cfg,
                    with_cp=with_cp))
            channels = self.embed_dims[s]
        self.num_features = [self.embed_dims[i] for i in self.out_indices]
        self.out_channels = self.num_features
        self.add_out_norms(out_norm_cfg,
                           [(i, self.embed_dims[i]) for i in self.out_indices])
        self._register_load_state_dict_pre_hook(self._adapt_state_dict)
        self._freeze_stages()

    # -- construction helpers ---------------------------------------------
    def _per_stage(self, value, default, name, kind) -> list:
        if value is None:
            return list(default)
        if isinstance(value, kind):
            return [value] * self.num_stages
        value = list(value)
        if len(value) != self.num_stages:
            raise ValueError(f'{name} needs {self.num_stages} entries, got '
                             f'{value}.')
        return value

    @staticmethod
    def parse_official_arch(arch: str) -> dict:
        """Turn an official ``MODEL.VIT.MSVIT.ARCH`` string into ViL
        arguments.

        Each ``_``-separated stage holds ``<key><int>`` fields: ``l`` stage
        id (1, 2, ...), ``h`` heads, ``d`` width, ``n`` blocks, ``s``
        Longformer (1) or full attention (0), ``g`` global tokens, ``p``
        patch size, ``f`` window, ``a`` absolute position embedding (1) or
        relative position bias (0). Missing fields take the official
        defaults (``h3, d192, n1, s1, g1, p2, f7, a1``).

        Returns:
            dict: ``embed_dims``, ``depths``, ``num_heads``, ``patch_sizes``,
            ``attn_types``, ``num_global_tokens``, ``window_size`` and
            ``pos_embed`` (lists, one entry per stage).
        """
        defaults = dict(h=3, d=192, n=1, s=1, g=1, p=2, f=7, a=1)
        stages = []
        for i, text in enumerate(arch.split('_')):
            fields = dict(defaults, l=i + 1)
            for item in text.split(','):
                match = re.fullmatch(r'([a-z])(\d+)', item.strip())
                if match is None or match.group(1) not in 'lhdnsgpfa':
                    raise ValueError(
                        f'Cannot parse {item!r} in the ViL arch string '
                        f'{arch!r}; expected <key><int> with key in '
                        '"lhdnsgpfa".')
                fields[match.group(1)] = int(match.group(2))
            if fields['l'] != i + 1:
                raise ValueError(f'Stage {i + 1} of {arch!r} says l'
                                 f'{fields["l"]}; stages must be in order.')
            stages.append(fields)
        return dict(
            embed_dims=[s['d'] for s in stages],
            depths=[s['n'] for s in stages],
            num_heads=[s['h'] for s in stages],
            patch_sizes=[s['p'] for s in stages],
            attn_types=['longformer' if s['s'] else 'full' for s in stages],
            num_global_tokens=[s['g'] for s in stages],
            window_size=[s['f'] for s in stages],
            pos_embed=['ape' if s['a'] else 'rpb' for s in stages])

    # -- weights ------------------------------------------------------------
    def init_official_weights(self):
        """Linears, the attention's bias tables, the global tokens and the
        position tables trunc-normal(0.02) with zero biases, LayerNorms 1/0;
        the patch-embedding convolutions keep PyTorch's default init, as in
        the official code."""

        def bias_tables(module):
            if isinstance(module, ViLAttention):
                for param in module.parameters(recurse=False):
                    trunc_normal_(param, std=.02)

        self.init_linears_and_norms(extra=bias_tables)
        for stage in self.stages:
            for param in stage.stem_parameters():
                trunc_normal_(param, std=.02)

    def _adapt_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Fit a checkpoint of another ViL configuration (e.g. a
        classification checkpoint, full attention in stages 3-4, loaded
        into a detection backbone with the Longformer everywhere).

        Mirrors the official classification-to-detection converter:
        relative-position tables are resized bilinearly, the separable
        absolute position tables linearly, and a single global token (with
        its biases and position) is repeated to the number of global
        tokens. Every adaptation is logged.
        """
        own = self.state_dict()
        adapted = []
        for name, target in own.items():
            key = prefix + name
            if key not in state_dict:
                continue
            value = state_dict[key]
            if value.shape == target.shape:
                continue
            new = self._adapt_tensor(name, value, target.shape)
            if new is None:
                continue
            state_dict[key] = new.to(value.dtype)
            adapted.append(f'{name}: {tuple(value.shape)} -> '
                           f'{tuple(new.shape)}')
        if adapted:
            print_log(
                'ViL adapted checkpoint tensors to this configuration:\n  ' +
                '\n  '.join(adapted), logger='current')

    def _adapt_tensor(self, name: str, value: torch.Tensor,
                      shape: torch.Size) -> Optional[torch.Tensor]:
        leaf = name.rsplit('.', 1)[-1]
        if leaf == 'local_relative_position_bias_table':
            if value.shape[1] != shape[1]:
                return None
            module = self.get_submodule(name.rsplit('.', 1)[0])
            try:
                side = square_grid_side(value.shape[0], name)
            except ValueError:
                return None  # non-square tables: leave the mismatch
            return resize_rel_pos_table(value.float(), (side, side),
                                        module.table_size)
        if leaf in ('pos_embed_row', 'pos_embed_col'):
            return resize_pos_embed_1d(value.float(), shape[1])
        if leaf in ('global_tokens', 'pos_embed_global'):
            if value.shape[1] == 1:
                return value.expand(-1, shape[1], -1).clone()
        if leaf == 'g2l_relative_position_bias' and value.shape[-1] == 1:
            return value.expand(*shape).clone()
        if leaf == 'g2g_relative_position_bias' and value.shape[-1] == 1:
            return value.expand(*shape).clone()
        return None

    # -- OpenMMLab features ------------------------------------------------
    def frozen_parts(self, stage: int) -> list:
        if stage == 0:
            first = self.stages[0]
            return [first.patch_embed] + first.stem_parameters()
        return [self.stages[stage - 1], getattr(self, f'norm{stage - 1}',
                                                None)]

    def set_random_shift(self, enabled: bool) -> int:
        """Switch the random-shift training mode of every Longformer
        attention; returns how many modules changed."""
        changed = 0
        for module in self.modules():
            if isinstance(module, ViLAttention) and \
                    module.attn_type == 'longformer' and \
                    module.random_shift != enabled:
                if enabled and module.exact_window:
                    raise ValueError('random_shift needs exact_window=False.')
                module.random_shift = enabled
                changed += 1
        return changed

    def get_layer_depth(self, param_name: str, prefix: str = ''):
        """Layer depth for layer-wise lr decay: the stem is 0, block ``i``
        of stage ``s`` is ``sum(depths[:s]) + i + 1``, a stage's patch
        embedding, global tokens and position tables share the depth of the
        block before them, the output norms are last."""
        num_layers = sum(self.depths) + 2
        if not param_name.startswith(prefix):
            return num_layers - 1, num_layers
        name = param_name[len(prefix):]
        if name.startswith('stages.'):
            parts = name.split('.')
            stage = int(parts[1])
            if parts[2] == 'blocks':
                return sum(self.depths[:stage]) + int(parts[3]) + 1, \
                    num_layers
            return sum(self.depths[:stage]), num_layers
        return num_layers - 1, num_layers

    # -- forward -------------------------------------------------------------
    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        return x  # every stage embeds its input itself

    def forward_unit(self, index: int, x: torch.Tensor) -> torch.Tensor:
        return self.stages[index](x)

    def format_output(self, index: int, x: torch.Tensor) -> torch.Tensor:
        # The output norms are LayerNorms over the channels of the tokens:
        # read the map as tokens (a view of the stage's tokens).
        b, _, h, w = x.shape
        out = self.out_norm(index, x.flatten(2).transpose(1, 2))
        if self.out_type == 'avg_featmap':
            return out.mean(dim=1)
        return out.transpose(1, 2).reshape(b, -1, h, w).contiguous()
