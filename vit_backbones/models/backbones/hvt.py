"""HVT: Scalable Vision Transformers with Hierarchical Pooling (ICCV 2021).

Paper: https://arxiv.org/abs/2103.10619
Official code: https://github.com/MonashAI/HVT (the model is written from
it; no code of it is used here).
"""
import math
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath
from mmcv.cnn.bricks.transformer import FFN, PatchEmbed
from mmengine.model import BaseModule, ModuleList
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models.utils import (build_norm_layer, resize_pos_embed,
                                     to_2tuple)
from mmpretrain.registry import MODELS

from ..utils import (MultiheadSelfAttention, is_symbolic,
                     make_patch_embed_exportable,
                     resize_pos_embed_1d, resize_pos_embed_2d,
                     square_grid_side)
from .base import VitBackbone, renamed_argument, resolve_arch

__all__ = ['HVT', 'HVTBlock', 'HVTPooling']


# head_dim is 64 in every official config: Ti = 192 / 3 heads, S = 384 / 6.
_TINY = dict(embed_dims=192, num_layers=12, num_heads=3, patch_size=16)
_SMALL = dict(embed_dims=384, num_layers=12, num_heads=6, patch_size=16)


def pooled_length(length: int, kernel_size: int) -> int:
    """Sequence length after the official 1-D pooling (stride 2, no
    padding): ``floor((L - k) / 2) + 1``."""
    return (length - kernel_size) // 2 + 1


def pooled_size(size: int, kernel_size: int) -> int:
    """Grid side after a 2-D max-pool with stride 2 and padding
    ``kernel_size // 2`` (``ceil(size / 2)`` for odd kernels)."""
    return (size + 2 * (kernel_size // 2) - kernel_size) // 2 + 1


class HVTBlock(BaseModule):
    """Pre-norm transformer block: ``x + attn(ln1(x))``, ``x + ffn(ln2(x))``
    with stochastic depth on both branches (DeiT/timm layout).

    Args:
        embed_dims (int): token width.
        num_heads (int): attention heads.
        feedforward_channels (int): hidden width of the FFN.
        drop_rate (float): dropout after the attention projection and in
            the FFN.
        attn_drop_rate (float): dropout on the attention weights.
        drop_path_rate (float): stochastic depth rate of this block.
        qkv_bias (bool): bias of the qkv projection.
        norm_cfg (dict): norm config.
        act_cfg (dict): FFN activation config.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 feedforward_channels: int,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 qkv_bias: bool = True,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 act_cfg: dict = dict(type='GELU'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.ln1 = build_norm_layer(norm_cfg, embed_dims)
        self.attn = MultiheadSelfAttention(
            embed_dims,
            num_heads,
            qkv_bias=qkv_bias,
            attn_drop=attn_drop_rate,
            proj_drop=drop_rate)
        self.drop_path = DropPath(
            drop_path_rate) if drop_path_rate > 0 else nn.Identity()
        self.ln2 = build_norm_layer(norm_cfg, embed_dims)
        self.ffn = FFN(
            embed_dims=embed_dims,
            feedforward_channels=feedforward_channels,
            num_fcs=2,
            ffn_drop=drop_rate,
            dropout_layer=dict(type='DropPath', drop_prob=drop_path_rate)
            if drop_path_rate > 0 else None,
            act_cfg=act_cfg,
            add_identity=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.ln1(x)))
        return self.ffn(self.ln2(x), identity=x)


class HVTPooling(BaseModule):
    """Max-pool the tokens with stride 2, then add this stage's learnable
    position embedding.

    ``mode='1d'`` (official HVT): the raster token sequence is pooled
    channel-wise along its length (kernel ``k``, no padding), so windows run
    across row ends and the result is no longer a grid. ``mode='2d'``
    (HVT-S-2 (2D), paper Table 9): the token grid is pooled with
    ``MaxPool2d(k, 2, k // 2)``.

    The position embedding is built for ``resolution`` (the pooled length in
    1-D mode, the pooled ``(h, w)`` grid in 2-D mode) at the construction
    input size; for other input sizes it is interpolated (linearly along the
    sequence in 1-D mode, bicubically on the grid in 2-D mode).
    """

    def __init__(self,
                 embed_dims: int,
                 mode: str,
                 resolution: Union[int, Tuple[int, int]],
                 kernel_size: int = 3,
                 interpolate_mode: str = 'bicubic',
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.mode = mode
        self.kernel_size = kernel_size
        self.interpolate_mode = interpolate_mode
        self.resolution = resolution
        length = resolution if mode == '1d' else resolution[0] * resolution[1]
        self.pos_embed = nn.Parameter(torch.zeros(1, length, embed_dims))

    def resized_pos_embed(self, resolution) -> torch.Tensor:
        if self.mode == '1d':
            return resize_pos_embed_1d(self.pos_embed, resolution)
        return resize_pos_embed_2d(self.pos_embed, self.resolution,
                                   resolution, self.interpolate_mode)

    def forward(self, x: torch.Tensor, resolution):
        """``x``: ``(B, L, C)`` tokens; ``resolution``: ``L`` (1-D) or the
        token grid ``(h, w)`` (2-D). Returns the pooled tokens and their
        resolution."""
        if self.mode == '1d':
            x = x.transpose(1, 2)
            if is_symbolic(x.shape[-1]):
                # max_pool1d fixes the length of an exported graph; the same
                # pool as a (1, k) max_pool2d keeps it symbolic.
                x = F.max_pool2d(x[:, :, None], (1, self.kernel_size),
                                 (1, 2))[:, :, 0]
            else:
                x = F.max_pool1d(x, self.kernel_size, stride=2)
            x = x.transpose(1, 2)
            resolution = x.shape[1]
        else:
            B, _, C = x.shape
            x = x.transpose(1, 2).reshape(B, C, *resolution)
            x = F.max_pool2d(
                x, self.kernel_size, stride=2, padding=self.kernel_size // 2)
            resolution = tuple(x.shape[-2:])
            x = x.flatten(2).transpose(1, 2)
        return x + self.resized_pos_embed(resolution), resolution


@MODELS.register_module()
class HVT(VitBackbone):
    """Hierarchical Visual Transformer (HVT).

    A DeiT-style ViT without class token that max-pools its tokens with
    stride 2 at the end of the first block of every stage and adds a new
    position embedding after each pool (:class:`HVTPooling`); the classifier
    input is the mean of the tokens after the final LayerNorm.

    From `Scalable Vision Transformers with Hierarchical Pooling
    <https://arxiv.org/abs/2103.10619>`_ (ICCV 2021).

    ``pool_mode='1d'`` is the official model (the sequence is pooled, the
    released weights); ``'2d'`` pools the token grid (``arch='s-2-2d'``,
    the paper's HVT-S-2 (2D), natively strides 8/16/32). Dense outputs are
    the outputs of blocks, taken before their pool: in 1-D mode stretched
    back to the stride-``P`` patch grid, in 2-D mode the grid itself; a
    :class:`SimpleFeaturePyramid` (``pyramid_scales``) rescales them. Any
    input size works: the image is zero-padded to a multiple of the patch
    size and every level at stride ``s`` has ``ceil(H/s) x ceil(W/s)``
    cells. ``configs/hvt/README.md`` explains the pooling modes, the
    stages, the minimum input and where the official code and the paper
    differ.

    Args:
        arch (str | dict): A name of :attr:`arch_zoo` or a dict with
            ``embed_dims``, ``num_layers``, ``num_heads``, ``patch_size`` and
            ``pool_blocks`` (indices of the pooling blocks) or
            ``pool_block_width`` (the official setting, 0 for none);
            optional ``mlp_ratio`` (4) and ``pool_mode`` ('1d').
            Defaults to 's-1'.
        img_size (int | tuple): The input size the position embeddings are
            built for; other sizes resize them. Defaults to 224.
        in_channels (int): The image channels. Defaults to 3.
        pool_mode (str, optional): '1d' or '2d'; overrides the arch's.
            Defaults to None.
        pool_kernel_size (int): The pooling kernel. Defaults to 3.
        out_indices (int | Sequence[int]): The blocks whose outputs are
            returned, in this order; an entry may repeat when
            ``pyramid_scales`` tells the copies apart. Defaults to -1.
        out_type (str): ``'avg_featmap'`` (the ``(B, C)`` token mean, the
            official classifier input) or ``'featmap'``.
            Defaults to 'avg_featmap'.
        pyramid_scales (Sequence[float], optional): One rescale factor per
            output (from 4, 2, 1, 0.5, 0.25), ``'featmap'`` only.
            Defaults to None.
        out_norm_cfg (dict, optional): A norm ``norm{i}`` per output block,
            except the last block when ``final_norm`` already normalises
            it. Defaults to None (none, as the official model).
        final_norm (bool): The final LayerNorm. Defaults to True.
        qkv_bias (bool): The bias of the qkv projection. Defaults to True.
        drop_rate (float): Dropout after the position embedding, the
            attention projection and in the FFN. Defaults to 0.
        attn_drop_rate (float): Attention dropout. Defaults to 0.
        drop_path_rate (float): Stochastic depth of the last block, linear
            from 0. Defaults to 0.1.
        norm_cfg (dict): The LayerNorms.
            Defaults to ``dict(type='LN', eps=1e-6)``.
        act_cfg (dict): The FFN activation.
            Defaults to ``dict(type='GELU')``.
        pyramid_norm_cfg (dict): The norm inside the x4 pyramid branch.
            Defaults to ``dict(type='BN')``.
        interpolate_mode (str): How 2-D position embeddings are resized.
            Defaults to 'bicubic'.
        frozen_stages (int): -1 none, 0 the stem, ``i`` the stem and the
            first ``i`` pooling stages. Defaults to -1.
        norm_eval (bool): BN layers (pyramid only) in eval mode while
            training. Defaults to False.
        with_cp (bool): Gradient checkpointing per block.
            Defaults to False.
        init_cfg (dict | list[dict], optional): Applied after the official
            init. Defaults to None.
        out_scales: Deprecated name of ``pyramid_scales``.
        out_norms (bool): Deprecated; ``True`` is
            ``out_norm_cfg=norm_cfg``.

    Examples:
        >>> import torch
        >>> from vit_backbones.models import HVT
        >>> model = HVT(arch='s-1')
        >>> model(torch.rand(1, 3, 224, 224))[0].shape
        torch.Size([1, 384])
        >>> dense = HVT(arch='s-1', out_type='featmap',
        ...             out_indices=(3, 5, 7, 11),
        ...             pyramid_scales=(4, 2, 1, 0.5))
        >>> [tuple(o.shape[-2:]) for o in dense(torch.rand(1, 3, 97, 131))]
        [(25, 33), (13, 17), (7, 9), (4, 5)]
    """
    arch_zoo = {
        **dict.fromkeys(['ti-1', 'hvt-ti-1'], dict(_TINY, pool_blocks=(0, ))),
        # Paper Table 6 (CIFAR-100 only, no weights).
        **dict.fromkeys(['ti-4', 'hvt-ti-4'],
                        dict(_TINY, pool_blocks=(0, 3, 6, 9))),
        **dict.fromkeys(['s-0', 'hvt-s-0'], dict(_SMALL, pool_blocks=())),
        **dict.fromkeys(['s-1', 'hvt-s-1'], dict(_SMALL, pool_blocks=(0, ))),
        **dict.fromkeys(['s-2', 'hvt-s-2'], dict(_SMALL, pool_blocks=(0, 6))),
        **dict.fromkeys(['s-3', 'hvt-s-3'],
                        dict(_SMALL, pool_blocks=(0, 4, 8))),
        **dict.fromkeys(['s-4', 'hvt-s-4', 'scale-ti-4', 'scale-hvt-ti-4'],
                        dict(_SMALL, pool_blocks=(0, 3, 6, 9))),
        **dict.fromkeys(['s-2-2d', 'hvt-s-2-2d'],
                        dict(
                            _SMALL,
                            patch_size=8,
                            pool_blocks=(0, 6),
                            pool_mode='2d')),
    }
    essential_keys = ('embed_dims', 'num_layers', 'num_heads', 'patch_size')
    OUT_TYPES = ('avg_featmap', 'featmap')
    UNITS = 'layers'
    num_extra_tokens = 0  # no class token

    def __init__(self,
                 arch: Union[str, dict] = 's-1',
                 img_size: Union[int, Tuple[int, int]] = 224,
                 in_channels: int = 3,
                 pool_mode: Optional[str] = None,
                 pool_kernel_size: int = 3,
                 out_indices: Union[int, Sequence[int]] = -1,
                 out_type: str = 'avg_featmap',
                 pyramid_scales: Optional[Sequence[float]] = None,
                 out_norm_cfg: Optional[dict] = None,
                 final_norm: bool = True,
                 qkv_bias: bool = True,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.1,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 act_cfg: dict = dict(type='GELU'),
                 pyramid_norm_cfg: dict = dict(type='BN'),
                 interpolate_mode: str = 'bicubic',
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 init_cfg: Optional[dict] = None,
                 out_scales: Optional[Sequence[float]] = None,
                 out_norms: Optional[bool] = None):
        pyramid_scales = renamed_argument('HVT', 'out_scales', out_scales,
                                          'pyramid_scales', pyramid_scales)
        out_norm_cfg = renamed_argument(
            'HVT', 'out_norms', out_norms, 'out_norm_cfg', out_norm_cfg,
            lambda on: dict(norm_cfg) if on else None)
        settings = resolve_arch(arch, self.arch_zoo, self.essential_keys,
                                'HVT')
        self.arch_settings = settings
        self.embed_dims = settings['embed_dims']
        self.num_layers = settings['num_layers']
        self.num_heads = settings['num_heads']
        self.patch_size = settings['patch_size']
        self.mlp_ratio = settings.get('mlp_ratio', 4)
        self.pool_blocks = self._parse_pool_blocks(settings, self.num_layers)
        self.pool_mode = pool_mode or settings.get('pool_mode', '1d')
        if self.pool_mode not in ('1d', '2d'):
            raise ValueError(f"pool_mode must be '1d' or '2d', got "
                             f'{self.pool_mode!r}.')
        if pool_kernel_size < 1:
            raise ValueError('pool_kernel_size must be positive.')
        super().__init__(
            num_stages=len(self.pool_blocks) + 1,
            frozen_stages=frozen_stages,
            norm_eval=norm_eval,
            with_cp=with_cp,
            init_cfg=init_cfg)

        self.out_type = self.resolve_out_type(out_type)
        self.set_outputs(out_indices, self.num_layers, pyramid_scales)
        self.in_channels = in_channels
        self.pool_kernel_size = pool_kernel_size
        self.interpolate_mode = interpolate_mode
        self.final_norm = final_norm
        self.num_features = [self.embed_dims] * len(self.out_indices)
        self.out_channels = self.num_features

        # Stem: mmcv's PatchEmbed pads the bottom/right to a multiple of the
        # patch size ('corner').
        self.img_size = tuple(to_2tuple(img_size))
        self.patch_embed = make_patch_embed_exportable(
            PatchEmbed(
                in_channels=in_channels,
                embed_dims=self.embed_dims,
                conv_type='Conv2d',
                kernel_size=self.patch_size,
                stride=self.patch_size,
                padding='corner',
                norm_cfg=None))
        self.patch_resolution = tuple(
            math.ceil(s / self.patch_size) for s in self.img_size)
        num_patches = self.patch_resolution[0] * self.patch_resolution[1]
        self.pos_embed = nn.Parameter(
            torch.zeros(1, num_patches, self.embed_dims))
        self.drop_after_pos = nn.Dropout(p=drop_rate)

        # Blocks, with the pools after the pooling blocks.
        dpr = torch.linspace(
            0, drop_path_rate, self.num_layers, device='cpu').tolist()
        self.layers = ModuleList([
            HVTBlock(
                self.embed_dims,
                self.num_heads,
                int(self.embed_dims * self.mlp_ratio),
                drop_rate=drop_rate,
                attn_drop_rate=attn_drop_rate,
                drop_path_rate=dpr[i],
                qkv_bias=qkv_bias,
                norm_cfg=norm_cfg,
                act_cfg=act_cfg) for i in range(self.num_layers)
        ])
        self.pools = ModuleList()
        resolution = (
            num_patches if self.pool_mode == '1d' else self.patch_resolution)
        for _ in self.pool_blocks:
            if self.pool_mode == '1d':
                resolution = pooled_length(resolution, pool_kernel_size)
                if resolution < 1:
                    raise ValueError(
                        f'img_size {self.img_size} is too small for '
                        f'{len(self.pool_blocks)} 1-D pools.')
            else:
                resolution = tuple(
                    pooled_size(s, pool_kernel_size) for s in resolution)
            self.pools.append(
                HVTPooling(self.embed_dims, self.pool_mode, resolution,
                           pool_kernel_size, interpolate_mode))
        self._pool_of_block = {b: m for m, b in enumerate(self.pool_blocks)}

        if final_norm:
            self.norm = build_norm_layer(norm_cfg, self.embed_dims)
        self.add_out_norms(out_norm_cfg, [
            (i, self.embed_dims) for i in self.out_indices
            if not (i == self.num_layers - 1 and final_norm)
        ])

        self.add_pyramid(self.embed_dims, pyramid_norm_cfg)

        self.min_size, self.min_tokens = self._minimum_input()
        self._register_load_state_dict_pre_hook(self._prepare_pos_embed)
        self._freeze_stages()

    # ------------------------------------------------------------------
    # Construction helpers
    # ------------------------------------------------------------------
    @staticmethod
    def pool_blocks_from_width(num_layers: int, width: int) -> Tuple[int]:
        """The official schedule: blocks ``i`` with ``i % width == 0``
        (``width`` 0 or None: no pooling, i.e. HVT-S-0)."""
        if not width:
            return ()
        return tuple(i for i in range(num_layers) if i % width == 0)

    @classmethod
    def _parse_pool_blocks(cls, settings: dict, num_layers: int):
        if 'pool_blocks' in settings:
            blocks = tuple(int(b) for b in settings['pool_blocks'])
        elif 'pool_block_width' in settings:
            blocks = cls.pool_blocks_from_width(num_layers,
                                                settings['pool_block_width'])
        else:
            raise KeyError('Custom HVT arch needs "pool_blocks" (indices of '
                           'the pooling blocks) or "pool_block_width" (the '
                           'official setting; 0 for no pooling).')
        if list(blocks) != sorted(set(blocks)):
            raise ValueError(f'pool_blocks {blocks} must be increasing.')
        if blocks and not 0 <= blocks[0] <= blocks[-1] < num_layers - 1:
            raise ValueError(
                f'pool_blocks {blocks} must lie in [0, {num_layers - 2}]: a '
                'pool after the last block would feed only the token mean.')
        return blocks

    def unit_stride(self, block: int) -> int:
        """The stride of ``block``'s output map: the patch size, times 2
        per 2-D pool before the block."""
        if self.pool_mode == '1d':
            return self.patch_size
        return self.patch_size * 2**sum(b < block for b in self.pool_blocks)

    def _minimum_input(self):
        """One patch per side; 1-D pooling needs at least ``kernel`` tokens
        before every pool."""
        min_tokens = 1
        if self.pool_mode == '1d':
            for _ in self.pool_blocks:
                min_tokens = 2 * (min_tokens - 1) + self.pool_kernel_size
        return (self.patch_size, self.patch_size), min_tokens

    # ------------------------------------------------------------------
    # Weights
    # ------------------------------------------------------------------
    def init_official_weights(self):
        """Linears trunc-normal(0.02) (timm's, truncated at +-2) with zero
        bias, LayerNorms 1/0, every position embedding trunc-normal(0.02);
        the patch convolution and the pyramid keep PyTorch's defaults, as
        in the official code."""
        self.init_linears_and_norms()
        trunc_normal_(self.pos_embed, std=.02)
        for pool in self.pools:
            trunc_normal_(pool.pos_embed, std=.02)

    def _prepare_pos_embed(self, state_dict, prefix, *args, **kwargs):
        """Resize checkpoint position embeddings built for another input
        size (square grids assumed, as in mmpretrain's ViT)."""
        from mmengine.logging import MMLogger
        logger = MMLogger.get_current_instance()

        def square(tensor, name):
            side = square_grid_side(tensor.shape[1], name)
            return side, side

        name = prefix + 'pos_embed'
        if name in state_dict and state_dict[name].shape != \
                self.pos_embed.shape:
            src = state_dict[name]
            logger.info(f'Resize {name} from {tuple(src.shape)} to '
                        f'{tuple(self.pos_embed.shape)}.')
            state_dict[name] = resize_pos_embed(
                src, square(src, name), self.patch_resolution,
                self.interpolate_mode, num_extra_tokens=0)
        for m, pool in enumerate(self.pools):
            name = f'{prefix}pools.{m}.pos_embed'
            if name not in state_dict or \
                    state_dict[name].shape == pool.pos_embed.shape:
                continue
            src = state_dict[name]
            logger.info(f'Resize {name} from {tuple(src.shape)} to '
                        f'{tuple(pool.pos_embed.shape)}.')
            if self.pool_mode == '1d':
                state_dict[name] = resize_pos_embed_1d(src, pool.resolution)
            else:
                state_dict[name] = resize_pos_embed(
                    src, square(src, name), pool.resolution,
                    self.interpolate_mode, num_extra_tokens=0)

    # ------------------------------------------------------------------
    # Stages: freezing and layer-wise lr decay
    # ------------------------------------------------------------------
    def stage_blocks(self) -> List[List[int]]:
        """Block indices of each pooling stage (see the class docstring)."""
        ends = list(self.pool_blocks) + [self.num_layers - 1]
        stages, start = [], 0
        for end in ends:
            stages.append(list(range(start, end + 1)))
            start = end + 1
        return stages

    def frozen_parts(self, stage: int) -> list:
        if stage == 0:
            return [self.patch_embed, self.pos_embed, self.drop_after_pos]
        blocks = self.stage_blocks()[stage - 1]
        parts = [self.layers[i] for i in blocks]
        parts += [getattr(self, f'norm{i}', None) for i in blocks]
        if stage <= len(self.pools):
            parts.append(self.pools[stage - 1])
        elif self.final_norm:
            parts.append(self.norm)
        return parts

    def get_layer_depth(self, param_name: str, prefix: str = ''):
        """Layer depth of a parameter for layer-wise lr decay.

        The stem (patch embedding, its position embedding) is depth 0, block
        ``i`` is ``i + 1`` together with the stage position embedding its
        pool adds, the rest (norms, pyramid) and parameters outside the
        backbone (the head) get the last depth ``num_layers + 1``.
        """
        num_layers = self.num_layers + 2
        if not param_name.startswith(prefix):
            return num_layers - 1, num_layers
        name = param_name[len(prefix):]
        if name == 'pos_embed' or name.startswith('patch_embed'):
            depth = 0
        elif name.startswith('layers.'):
            depth = int(name.split('.')[1]) + 1
        elif name.startswith('pools.'):
            depth = self.pool_blocks[int(name.split('.')[1])] + 1
        else:
            depth = num_layers - 1
        return depth, num_layers

    # ------------------------------------------------------------------
    # Forward
    # ------------------------------------------------------------------
    def _check_tokens(self, x: torch.Tensor, patch_hw: Tuple[int, int]):
        if patch_hw[0] * patch_hw[1] < self.min_tokens:
            raise ValueError(
                f'HVT with {len(self.pool_blocks)} 1-D pools needs at least '
                f'{self.min_tokens} patch tokens, i.e. ceil(H/'
                f'{self.patch_size}) * ceil(W/{self.patch_size}) >= '
                f'{self.min_tokens}; got an input of shape '
                f'{tuple(x.shape)} with {patch_hw[0]}x{patch_hw[1]} tokens.')

    def forward_stem(self, x: torch.Tensor):
        """Patch tokens with their position embedding; the state is
        ``(tokens, resolution, patch grid)`` where ``resolution`` is the
        sequence length (1-D) or the token grid (2-D)."""
        inputs = x
        x, patch_hw = self.patch_embed(x)
        patch_hw = tuple(patch_hw)
        if self.pool_mode == '1d':
            self._check_tokens(inputs, patch_hw)
        x = x + resize_pos_embed_2d(self.pos_embed, self.patch_resolution,
                                    patch_hw, self.interpolate_mode)
        x = self.drop_after_pos(x)
        resolution = patch_hw if self.pool_mode == '2d' else x.shape[1]
        return x, resolution, patch_hw

    def forward_unit(self, index: int, state):
        """Block ``index``, after the pool of the block before it (outputs
        are taken before a pool) and with the final norm after the last."""
        x, resolution, patch_hw = state
        pool = self._pool_of_block.get(index - 1)
        if pool is not None:
            x, resolution = self.pools[pool](x, resolution)
        x = self.checkpointed(self.layers[index], x)
        if index == self.num_layers - 1 and self.final_norm:
            x = self.norm(x)
        return x, resolution, patch_hw

    def format_output(self, index: int, state) -> torch.Tensor:
        x, resolution, patch_hw = state
        x = self.out_norm(index, x)
        if self.out_type == 'avg_featmap':
            return x.mean(dim=1)
        B, L, C = x.shape
        if self.pool_mode == '2d':
            h, w = resolution
            return x.transpose(1, 2).reshape(B, C, h, w).contiguous()
        h, w = patch_hw
        x = x.transpose(1, 2)
        if is_symbolic(L, h, w) or L != h * w:
            # Paper Fig. 3: stretch the pooled sequence back to the length of
            # the patch grid, then fold it into the grid (export always
            # interpolates; at the same length that is exact).
            x = F.interpolate(
                x, size=h * w, mode='linear', align_corners=False)
        return x.reshape(B, C, h, w).contiguous()
