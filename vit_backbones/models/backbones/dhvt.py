"""DHVT: a plain vision transformer with convolutional inductive biases for
small datasets (Lu et al., NeurIPS 2022), as an mmpretrain backbone with a
simple feature pyramid for dense tasks."""
import math
from collections import OrderedDict
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn.bricks import DropPath
from mmengine.model.weight_init import trunc_normal_
from mmengine.utils.dl_utils.parrots_wrapper import _BatchNorm
from mmpretrain.models.utils import build_norm_layer
from mmpretrain.registry import MODELS

from ..utils import MultiheadSelfAttention
from .base import VitBackbone, resolve_arch


class Affine(nn.Module):
    """Per-channel ``x * alpha + beta`` on ``(B, C, H, W)`` maps.

    The learnable affine transforms around DHVT's patch embedding. They are
    4-D parameters that the official training decays (they are neither 1-D
    nor named ``bias``), which is why they are called ``alpha``/``beta``:
    mmengine's ``bias_decay_mult`` would otherwise catch ``beta``.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.alpha + self.beta


class SOPE(nn.Module):
    """Sequential Overlapping Patch Embedding.

    ``log2(patch_size)`` stride-2 3x3 convolutions (no bias), each followed
    by a norm layer, with the channels doubling up to ``embed_dims``
    (``C/8, C/4, C/2, C`` for patch 16). A learnable :class:`Affine` comes
    before the first and after the last convolution.

    GELU sits *between* the convolutions (and after the only one for
    patch 2), as in the official code (see ``configs/dhvt/README.md``).

    Each convolution pads by 1, so a side of ``n`` pixels becomes
    ``ceil(n / 2)``: any input size works and the token grid is
    ``ceil(H / patch_size) x ceil(W / patch_size)``, exactly what the
    official model computes for sizes that the patch size does not divide.

    Args:
        in_channels (int): input channels.
        embed_dims (int): output channels ``C``.
        patch_size (int): a power of two >= 2. The official code has 2, 4
            and 16; other powers of two follow the same rule.
        norm_cfg (dict): norm after each convolution (official: SyncBN).
    """

    def __init__(self, in_channels: int, embed_dims: int, patch_size: int,
                 norm_cfg: dict):
        super().__init__()
        num_convs = int(math.log2(patch_size)) if patch_size >= 2 else 0
        if patch_size < 2 or 2**num_convs != patch_size:
            raise ValueError('DHVT patch_size must be a power of two >= 2 '
                             f'(official: 2, 4, 16), got {patch_size}.')
        if embed_dims % 2**(num_convs - 1):
            raise ValueError(f'embed_dims {embed_dims} must be divisible by '
                             f'{2**(num_convs - 1)} for patch_size '
                             f'{patch_size}.')
        self.patch_size = patch_size
        self.pre_affine = Affine(in_channels)
        convs = []
        channels = in_channels
        for i in range(num_convs):
            out_channels = embed_dims // 2**(num_convs - 1 - i)
            convs.append(
                nn.Sequential(
                    OrderedDict(
                        conv=nn.Conv2d(
                            channels, out_channels, 3, 2, 1, bias=False),
                        norm=build_norm_layer(norm_cfg, out_channels))))
            channels = out_channels
        self.convs = nn.ModuleList(convs)
        self.act = nn.GELU()
        self.post_affine = Affine(embed_dims)

    def forward(self, x: torch.Tensor
                ) -> Tuple[torch.Tensor, Tuple[int, int]]:
        x = self.pre_affine(x)
        last = len(self.convs) - 1
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i < last or last == 0:
                x = self.act(x)
        x = self.post_affine(x)
        hw = (x.shape[2], x.shape[3])
        return x.flatten(2).transpose(1, 2), hw


class HeadTokenAttention(MultiheadSelfAttention):
    """HI-MHSA: multi-head self-attention with head tokens.

    Before attention, each head's channel group is averaged over all tokens
    (class token included) of the normalised input, giving one
    ``head_dims``-vector per head. Each is projected to ``embed_dims``
    (``head_proj``), split back into ``num_heads`` chunks of ``head_dims``
    that are layer-normalised (``head_norm``, eps 1e-5 as officially, not
    the 1e-6 of the other LayerNorms) and passed through GELU; a learnable
    head embedding (``head_embed``, official name ``attn.pos_embed``) is
    added. These ``num_heads`` head tokens join the sequence for the
    ordinary multi-head attention of :class:`MultiheadSelfAttention`;
    afterwards their mean is added to the class token and they are
    dropped. They are rebuilt in every block.

    Args:
        embed_dims (int): The channels ``C``.
        num_heads (int): The heads ``h``; ``C`` must be divisible by it.
        qkv_bias (bool): The bias of the qkv projection. Defaults to True.
        attn_drop (float): Attention dropout. Defaults to 0.
        proj_drop (float): Dropout after the output projection.
            Defaults to 0.

    Examples:
        >>> import torch
        >>> attn = HeadTokenAttention(embed_dims=64, num_heads=4)
        >>> attn(torch.rand(2, 1 + 16, 64)).shape
        torch.Size([2, 17, 64])
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 qkv_bias: bool = True,
                 attn_drop: float = 0.,
                 proj_drop: float = 0.):
        super().__init__(embed_dims, num_heads, qkv_bias, attn_drop,
                         proj_drop)
        self.head_proj = nn.Linear(self.head_dims, embed_dims)
        self.head_norm = nn.LayerNorm(self.head_dims, eps=1e-5)
        self.head_embed = nn.Parameter(torch.zeros(1, num_heads, embed_dims))
        self.act = nn.GELU()

    def head_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, N, C)`` tokens to ``(B, h, C)`` head tokens."""
        b = x.shape[0]
        h, d = self.num_heads, self.head_dims
        groups = x.mean(dim=1).reshape(b, h, d)
        tokens = self.head_proj(groups).reshape(b, h, h, d)
        tokens = self.act(self.head_norm(tokens)).reshape(b, h, h * d)
        return tokens + self.head_embed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, h = x.shape[1], self.num_heads
        out = self.attend(torch.cat([x, self.head_tokens(x)], dim=1))
        tokens, heads = out.split([n, h], dim=1)
        cls_token = tokens[:, :1] + heads.mean(dim=1, keepdim=True)
        out = torch.cat([cls_token, tokens[:, 1:]], dim=1)
        return self.proj_drop(out)


class DAFF(nn.Module):
    """Dynamic Aggregation Feed-Forward.

    The patch tokens, as a ``(B, C, H, W)`` map, go through a 1x1
    convolution to ``hidden`` channels + norm + GELU, a depthwise 3x3
    convolution + norm + GELU with a residual connection around it, and a
    1x1 convolution back to ``C`` + norm (no activation). The convolutions
    keep their biases (official). The class token bypasses the convolutions
    and is multiplied channel-wise by a squeeze-excitation weight computed
    from the mean of the output patch tokens (``Linear(C, C/r)`` - GELU -
    ``Linear(C/r, C)``, *no sigmoid*, as officially).

    The official code reshapes the patch tokens into a square grid; here the
    grid size is passed in, so any ``H x W`` works.

    Args:
        embed_dims (int): channels ``C``.
        hidden_dims (int): channels of the hidden map (``mlp_ratio * C``).
        norm_cfg (dict): the three norms (official: BN).
        se_ratio (int): reduction of the squeeze-excitation. Defaults to 4.
    """

    def __init__(self,
                 embed_dims: int,
                 hidden_dims: int,
                 norm_cfg: dict = dict(type='BN'),
                 se_ratio: int = 4):
        super().__init__()
        self.pw_conv1 = nn.Conv2d(embed_dims, hidden_dims, 1)
        self.norm1 = build_norm_layer(norm_cfg, hidden_dims)
        self.dw_conv = nn.Conv2d(
            hidden_dims, hidden_dims, 3, padding=1, groups=hidden_dims)
        self.norm2 = build_norm_layer(norm_cfg, hidden_dims)
        self.pw_conv2 = nn.Conv2d(hidden_dims, embed_dims, 1)
        self.norm3 = build_norm_layer(norm_cfg, embed_dims)
        self.se_reduce = nn.Linear(embed_dims, embed_dims // se_ratio)
        self.se_expand = nn.Linear(embed_dims // se_ratio, embed_dims)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
        b, n, c = x.shape
        cls_token, tokens = x[:, :1], x[:, 1:]
        # The token map as a channels-last (B, C, H, W) view: no copy, and
        # the 1x1 and depth-wise convs are 1.5-3x faster on CPU in that
        # layout; their channels-last output flattens back to tokens as a
        # view too.
        t = tokens.reshape(b, hw[0], hw[1], c).permute(0, 3, 1, 2)
        t = self.act(self.norm1(self.pw_conv1(t)))
        t = t + self.act(self.norm2(self.dw_conv(t)))
        t = self.norm3(self.pw_conv2(t))
        weight = self.se_expand(self.act(self.se_reduce(t.mean(dim=(2, 3)))))
        cls_token = cls_token * weight.unsqueeze(1)
        return torch.cat([cls_token, t.flatten(2).transpose(1, 2)], dim=1)


class DHVTBlock(nn.Module):
    """Pre-norm block: ``x + HI-MHSA(LN(x))`` then ``x + DAFF(LN(x))``."""

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 hidden_dims: int,
                 qkv_bias: bool = True,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 layer_norm_cfg: dict = dict(type='LN', eps=1e-6),
                 norm_cfg: dict = dict(type='BN'),
                 se_ratio: int = 4):
        super().__init__()
        self.ln1 = build_norm_layer(layer_norm_cfg, embed_dims)
        self.attn = HeadTokenAttention(embed_dims, num_heads, qkv_bias,
                                       attn_drop_rate, drop_rate)
        self.ln2 = build_norm_layer(layer_norm_cfg, embed_dims)
        self.ffn = DAFF(embed_dims, hidden_dims, norm_cfg, se_ratio)
        self.drop_path = DropPath(
            drop_path_rate) if drop_path_rate > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, hw: Tuple[int, int]) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.ln1(x)))
        x = x + self.drop_path(self.ffn(self.ln2(x), hw))
        return x


@MODELS.register_module()
class DHVT(VitBackbone):
    """Dynamic Hybrid Vision Transformer (DHVT).

    A plain (single-stride) ViT with convolutional inductive biases: a
    sequential overlapping patch embedding (:class:`SOPE`), a class token
    and no position embedding, then pre-norm blocks of head-token attention
    (:class:`HeadTokenAttention`) and a convolutional feed-forward
    (:class:`DAFF`), and a final LayerNorm; the class token is the
    classification feature. Dense outputs are the patch-token maps of a few
    blocks (stride ``P``), rescaled by a :class:`SimpleFeaturePyramid`
    (``pyramid_scales``) into strides 4/8/16/32. Any input size works
    (``ceil(H/P) x ceil(W/P)`` tokens, nothing padded or masked).

    From `Bridging the Gap Between Vision Transformers and Convolutional
    Neural Networks on Small Datasets <https://arxiv.org/abs/2210.05958>`_
    (NeurIPS 2022). ``configs/dhvt/README.md`` lists the variants (the head
    count depends on the dataset, so arch names say dataset and patch
    size), the stages, the norms and where the official code and the paper
    differ.

    Args:
        arch (str | dict): A name of :attr:`arch_zoo` (e.g.
            ``'tiny-in1k-p16'``, or the official ``'dhvt_tiny_imagenet_
            patch16'``) or a dict with ``embed_dims``, ``num_layers``,
            ``num_heads``, ``patch_size`` and optionally ``mlp_ratio`` (4)
            and ``se_ratio`` (4). Defaults to 'tiny-in1k-p16'.
        in_channels (int): The input channels. Defaults to 3.
        out_indices (int | Sequence[int]): The blocks whose outputs are
            returned, in this order; an entry may repeat when
            ``pyramid_scales`` tells the copies apart. Defaults to -1.
        out_type (str): ``'cls_token'`` (the ``(B, C)`` class token),
            ``'featmap'`` (the patch-token maps) or ``'avg_featmap'`` (their
            mean). Defaults to 'cls_token'.
        pyramid_scales (Sequence[float], optional): One rescale factor per
            output (from 4, 2, 1, 0.5, 0.25), ``'featmap'`` only.
            Defaults to None.
        qkv_bias (bool): The bias of the qkv projection. Defaults to True.
        drop_rate (float): Dropout after the attention projection.
            Defaults to 0.
        attn_drop_rate (float): Attention dropout. Defaults to 0.
        drop_path_rate (float): Stochastic depth of the last block, linear
            from 0 (official training: 0.1). Defaults to 0.
        final_norm (bool): The final LayerNorm, applied to the last block's
            tokens. Defaults to True.
        layer_norm_cfg (dict): The blocks' and the final LayerNorms.
            Defaults to ``dict(type='LN', eps=1e-6)``.
        norm_cfg (dict): The BN layers of DAFF (and SOPE, see
            ``stem_norm_cfg``). Defaults to ``dict(type='BN')``.
        stem_norm_cfg (dict, optional): The BN layers of SOPE; None uses
            ``norm_cfg``. Defaults to None.
        out_norm_cfg (dict, optional): A norm ``norm{i}`` per output block,
            except the last block when ``final_norm`` already normalises it.
            Defaults to None.
        pyramid_norm_cfg (dict): The norm inside the x4 pyramid branch.
            Defaults to ``dict(type='BN')``.
        frozen_stages (int): -1 none, 0 the stem (SOPE, class token), ``i``
            the stem and the first ``i`` of the four groups of blocks.
            Defaults to -1.
        norm_eval (bool): BN layers in eval mode while training.
            Defaults to False.
        with_cp (bool): Gradient checkpointing per block. Defaults to False.
        init_cfg (dict | list[dict], optional): Applied after the official
            init. Defaults to None.

    Examples:
        >>> import torch
        >>> from vit_backbones.models import DHVT
        >>> model = DHVT(arch='tiny-in1k-p16')
        >>> model(torch.rand(1, 3, 224, 224))[0].shape
        torch.Size([1, 192])
        >>> dense = DHVT(arch='tiny-in1k-p16', out_type='featmap',
        ...              out_indices=(3, 5, 7, 11),
        ...              pyramid_scales=(4, 2, 1, 0.5))
        >>> [tuple(o.shape[-2:]) for o in dense(torch.rand(1, 3, 97, 131))]
        [(25, 33), (13, 17), (7, 9), (4, 5)]
    """
    arch_zoo = {
        **dict.fromkeys(
            ['tiny-cifar-p4', 't-cifar-p4', 'dhvt_tiny_cifar_patch4'],
            dict(embed_dims=192, num_layers=12, num_heads=4, patch_size=4)),
        **dict.fromkeys(
            ['small-cifar-p4', 's-cifar-p4', 'dhvt_small_cifar_patch4'],
            dict(embed_dims=384, num_layers=12, num_heads=8, patch_size=4)),
        **dict.fromkeys(
            ['tiny-cifar-p2', 't-cifar-p2', 'dhvt_tiny_cifar_patch2'],
            dict(embed_dims=192, num_layers=12, num_heads=4, patch_size=2)),
        **dict.fromkeys(
            ['small-cifar-p2', 's-cifar-p2', 'dhvt_small_cifar_patch2'],
            dict(embed_dims=384, num_layers=12, num_heads=8, patch_size=2)),
        **dict.fromkeys(
            ['tiny-in1k-p16', 't-in1k-p16', 'dhvt_tiny_imagenet_patch16'],
            dict(embed_dims=192, num_layers=12, num_heads=3, patch_size=16)),
        **dict.fromkeys(
            ['small-in1k-p16', 's-in1k-p16', 'dhvt_small_imagenet_patch16'],
            dict(embed_dims=384, num_layers=12, num_heads=6, patch_size=16)),
        **dict.fromkeys(
            ['tiny-domainnet-p16', 't-domainnet-p16',
             'dhvt_tiny_domain_patch16'],
            dict(embed_dims=192, num_layers=12, num_heads=4, patch_size=16)),
        **dict.fromkeys(
            ['small-domainnet-p16', 's-domainnet-p16',
             'dhvt_small_domain_patch16'],
            dict(embed_dims=384, num_layers=12, num_heads=6, patch_size=16)),
    }
    essential_keys = {'embed_dims', 'num_layers', 'num_heads', 'patch_size'}
    OUT_TYPES = ('cls_token', 'featmap', 'avg_featmap')
    UNITS = 'layers'
    num_extra_tokens = 1  # the class token
    # 2: the final norm is ``norm`` (``ln1`` before; see VitBackbone).
    _version = 2
    RENAMED_LAYERS = {2: {'ln1': 'norm'}}
    MISSING_CHECKPOINT_HINT = (
        'DHVT published no weights, so the DHVT detection and segmentation '
        'configs need ImageNet weights you trained: run '
        'configs/dhvt/dhvt-{tiny,small}-p16_4xb128_in1k.py and point '
        'checkpoint_file at its checkpoint (an official main.py file is '
        'converted while it loads).')

    def __init__(self,
                 arch: Union[str, dict] = 'tiny-in1k-p16',
                 in_channels: int = 3,
                 out_indices: Union[int, Sequence[int]] = -1,
                 out_type: str = 'cls_token',
                 pyramid_scales: Optional[Sequence[float]] = None,
                 qkv_bias: bool = True,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 final_norm: bool = True,
                 layer_norm_cfg: dict = dict(type='LN', eps=1e-6),
                 norm_cfg: dict = dict(type='BN'),
                 stem_norm_cfg: Optional[dict] = None,
                 out_norm_cfg: Optional[dict] = None,
                 pyramid_norm_cfg: dict = dict(type='BN'),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        settings = resolve_arch(arch, self.arch_zoo, self.essential_keys,
                                'DHVT')
        num_layers = settings['num_layers']
        stage_ends = self.stage_ends(num_layers)
        super().__init__(
            num_stages=len(stage_ends),
            frozen_stages=frozen_stages,
            norm_eval=norm_eval,
            with_cp=with_cp,
            init_cfg=init_cfg)
        self.arch_settings = settings
        self.embed_dims = settings['embed_dims']
        self.num_layers = num_layers
        self.num_heads = settings['num_heads']
        self.patch_size = settings['patch_size']
        self.in_channels = in_channels
        self._stage_ends = stage_ends
        self.min_size = (self.patch_size, self.patch_size)

        self.out_type = self.resolve_out_type(out_type)
        self.set_outputs(out_indices, num_layers, pyramid_scales)

        self.patch_embed = SOPE(in_channels, self.embed_dims, self.patch_size,
                                stem_norm_cfg or norm_cfg)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))
        hidden_dims = int(self.embed_dims * settings.get('mlp_ratio', 4))
        dpr = [
            drop_path_rate * i / max(num_layers - 1, 1)
            for i in range(num_layers)
        ]
        self.layers = nn.ModuleList([
            DHVTBlock(
                self.embed_dims,
                self.num_heads,
                hidden_dims,
                qkv_bias=qkv_bias,
                drop_rate=drop_rate,
                attn_drop_rate=attn_drop_rate,
                drop_path_rate=dpr[i],
                layer_norm_cfg=layer_norm_cfg,
                norm_cfg=norm_cfg,
                se_ratio=settings.get('se_ratio', 4))
            for i in range(num_layers)
        ])
        self.final_norm = final_norm
        if final_norm:
            self.norm = build_norm_layer(layer_norm_cfg, self.embed_dims)
        self.add_out_norms(out_norm_cfg, [
            (i, self.embed_dims) for i in self.out_indices
            if not (i == num_layers - 1 and final_norm)
        ])
        self.add_pyramid(self.embed_dims, pyramid_norm_cfg)
        self.num_features = [self.embed_dims] * len(self.out_indices)
        self.out_channels = self.num_features
        self._freeze_stages()

    @staticmethod
    def stage_ends(num_layers: int) -> List[int]:
        """Last block of each stage: ``[3, 5, 7, 11]`` for 12 blocks."""
        ends = [num_layers // 3 - 1, num_layers // 2 - 1,
                2 * num_layers // 3 - 1, num_layers - 1]
        return sorted({max(0, e) for e in ends})

    # ------------------------------------------------------------------ init
    def init_official_weights(self):
        """Linears, the class token and the head embeddings trunc-normal
        (0.02) with zero biases, norms 1/0; convolutions keep PyTorch's
        default, as in the official code."""
        trunc_normal_(self.cls_token, std=.02)

        def head_embed(module):
            if isinstance(module, HeadTokenAttention):
                trunc_normal_(module.head_embed, std=.02)

        self.init_linears_and_norms((nn.LayerNorm, _BatchNorm), head_embed)

    # --------------------------------------------------------------- forward
    def forward_stem(self, x: torch.Tensor):
        """SOPE tokens behind the class token; the state is ``(tokens,
        token grid)``."""
        x, hw = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        return x, hw

    def forward_unit(self, index: int, state):
        """Block ``index``, with the final norm after the last."""
        x, hw = state
        x = self.checkpointed(self.layers[index], x, hw)
        if index == self.num_layers - 1 and self.final_norm:
            x = self.norm(x)
        return x, hw

    def unit_stride(self, index: int) -> int:
        return self.patch_size

    def format_output(self, index: int, state) -> torch.Tensor:
        x, hw = state
        if self.out_type == 'cls_token':
            return self.out_norm(index, x[:, 0])
        tokens = self.out_norm(index, x[:, 1:])
        if self.out_type == 'avg_featmap':
            return tokens.mean(dim=1)
        b, _, c = tokens.shape
        return tokens.transpose(1, 2).reshape(b, c, hw[0], hw[1])

    # ------------------------------------------------------------- training
    def frozen_parts(self, stage: int) -> list:
        if stage == 0:
            return [self.patch_embed, self.cls_token]
        first = self._stage_ends[stage - 2] + 1 if stage > 1 else 0
        end = self._stage_ends[stage - 1]
        parts = [self.layers[i] for i in range(first, end + 1)]
        parts += [
            getattr(self, f'norm{i}', None) for i in range(first, end + 1)
        ]
        if end == self.num_layers - 1 and self.final_norm:
            parts.append(self.norm)
        return parts

    def get_layer_depth(self, param_name: str, prefix: str = ''):
        """Layer depth of a parameter for layer-wise lr decay.

        The stem (SOPE, class token) is depth 0, block ``i`` depth ``i + 1``
        and everything after (final norm, output norms, pyramid, head)
        ``num_layers + 1``.

        Returns:
            tuple[int, int]: the depth and the number of depths.
        """
        num_depths = self.num_layers + 2
        if not param_name.startswith(prefix):
            return num_depths - 1, num_depths
        name = param_name[len(prefix):]
        if name == 'cls_token' or name.startswith('patch_embed'):
            return 0, num_depths
        if name.startswith('layers.'):
            return int(name.split('.')[1]) + 1, num_depths
        return num_depths - 1, num_depths
