"""Official HVT checkpoints -> mmpretrain ``ImageClassifier`` state dicts.

The official release files (``hvt_ti_1.pth``, ``hvt_s_0.pth`` ...
``hvt_s_3.pth``, ``scale_hvt_ti_4.pth``; GitHub releases of
``zhuang-group/HVT``) are ``{'model': state_dict, 'optimizer': ...,
'args': argparse.Namespace, ...}``. The key rules:

==============================  ===========================================
official                        ours (``backbone.`` / ``head.`` prefixed)
==============================  ===========================================
``patch_embed.proj.*``          ``patch_embed.projection.*``
``pos_embed``                   ``pos_embed``
``blocks.{i}.norm1/norm2.*``    ``layers.{i}.ln1/ln2.*``
``blocks.{i}.attn.qkv/proj.*``  ``layers.{i}.attn.qkv/proj.*``
``blocks.{i}.mlp.fc1.*``        ``layers.{i}.ffn.layers.0.0.*``
``blocks.{i}.mlp.fc2.*``        ``layers.{i}.ffn.layers.1.*``
``blocks.{b}.pos_embed``        ``pools.{m}.pos_embed`` (``b`` is the
                                ``m``-th pooling block)
``norm.*``                      ``norm.*``
``head.*``                      ``head.fc.*`` (``LinearClsHead``)
==============================  ===========================================

The variant is read from the keys: the width from ``pos_embed``, the depth
from the ``blocks.{i}`` indices, the pooling blocks from which blocks own a
``pos_embed`` (none: HVT-S-0), the patch size from the convolution; the
head count is ``width / 64`` (``head_dim`` is 64 in every official config).
Pass ``arch`` to override it (e.g. for models trained with another
``head_dim``).
"""
import re
from collections import OrderedDict
from functools import partial
from typing import Dict, Sequence, Tuple, Union

import torch

from .common import (CheckpointMismatchError, check_classifier, key_by_rules,
                     rename_keys, square_grid_side_of, strip_prefix,
                     unwrap_state_dict)

HEAD_DIM = 64

_RULES = [(re.compile(pattern), replacement) for pattern, replacement in (
    (r'patch_embed\.proj\.(weight|bias)',
     r'backbone.patch_embed.projection.\1'),
    (r'pos_embed', 'backbone.pos_embed'),
    (r'blocks\.(\d+)\.norm([12])\.(weight|bias)',
     r'backbone.layers.\1.ln\2.\3'),
    (r'blocks\.(\d+)\.attn\.(qkv|proj)\.(weight|bias)',
     r'backbone.layers.\1.attn.\2.\3'),
    (r'blocks\.(\d+)\.mlp\.fc1\.(weight|bias)',
     r'backbone.layers.\1.ffn.layers.0.0.\2'),
    (r'blocks\.(\d+)\.mlp\.fc2\.(weight|bias)',
     r'backbone.layers.\1.ffn.layers.1.\2'),
    (r'norm\.(weight|bias)', r'backbone.norm.\1'),
    (r'head\.(weight|bias)', r'head.fc.\1'),
)]
_STAGE_POS = re.compile(r'^blocks\.(\d+)\.pos_embed$')
_BLOCK = re.compile(r'^blocks\.(\d+)\.')


def official_state_dict(checkpoint) -> 'OrderedDict':
    """The official tensors of ``checkpoint`` (a file's content: raw, or
    wrapped in ``model``/``state_dict``/``net``; ``module.`` prefixes
    removed)."""
    state_dict = unwrap_state_dict(checkpoint,
                                   ('model', 'state_dict', 'net'))
    return strip_prefix(state_dict, 'module.')


def infer_arch(state_dict: Dict[str, torch.Tensor]) -> Union[str, dict]:
    """The HVT arch of an official state dict: a name of
    ``HVT.arch_zoo`` when one matches, else an arch dict."""
    from vit_backbones.models.backbones.hvt import HVT, pooled_length
    for key in ('pos_embed', 'patch_embed.proj.weight'):
        if key not in state_dict:
            raise CheckpointMismatchError(
                f'Not an official HVT checkpoint: no {key!r} key (found '
                f'{sorted(state_dict)[:8]} ...).')
    pos = state_dict['pos_embed']
    if pos.dim() != 3 or pos.shape[0] != 1:
        raise CheckpointMismatchError(
            f'pos_embed has shape {tuple(pos.shape)}, expected (1, L, C).')
    num_patches, embed_dims = pos.shape[1:]
    patch = state_dict['patch_embed.proj.weight'].shape[-1]
    blocks = {int(m.group(1)) for m in map(_BLOCK.match, state_dict) if m}
    if not blocks:
        raise CheckpointMismatchError('No blocks.{i}.* keys found.')
    num_layers = max(blocks) + 1
    pool_blocks = tuple(
        sorted(
            int(m.group(1)) for m in map(_STAGE_POS.match, state_dict) if m))
    # The stage lengths must follow the official 1-D pooling of the patch
    # sequence.
    length = num_patches
    for b in pool_blocks:
        length = pooled_length(length, 3)
        found = state_dict[f'blocks.{b}.pos_embed'].shape[1]
        if found != length:
            raise CheckpointMismatchError(
                f'blocks.{b}.pos_embed has {found} tokens where 1-D pooling '
                f'(k=3, s=2) of {num_patches} patch tokens gives {length}; '
                'pass the arch explicitly for other pooling settings.')
    settings = dict(
        embed_dims=embed_dims,
        num_layers=num_layers,
        num_heads=max(embed_dims // HEAD_DIM, 1),
        patch_size=patch,
        pool_blocks=pool_blocks)
    for name, zoo in HVT.arch_zoo.items():
        if zoo.get('pool_mode', '1d') == '1d' and all(
                tuple(zoo[k]) == v if k == 'pool_blocks' else zoo[k] == v
                for k, v in settings.items()):
            return name
    return settings


def img_size_of(state_dict: Dict[str, torch.Tensor]) -> int:
    """The (square) training input size of an official state dict."""
    side = square_grid_side_of(state_dict, 'pos_embed')
    return side * state_dict['patch_embed.proj.weight'].shape[-1]


def convert_key(key: str, pool_blocks: Sequence[int]) -> str:
    """The mmpretrain key of an official key; ``pool_blocks`` are the
    pooling blocks, whose ``blocks.{b}.pos_embed`` belong to the pools."""
    m = _STAGE_POS.match(key)
    if m and int(m.group(1)) in pool_blocks:
        return f'backbone.pools.{list(pool_blocks).index(int(m.group(1)))}' \
            '.pos_embed'
    return key_by_rules(key, _RULES, 'HVT')


def convert(checkpoint,
            *,
            arch: Union[str, dict, None] = None,
            validate: bool = True,
            img_size: Union[int, Tuple[int, int], None] = None
            ) -> 'OrderedDict':
    """Convert an official HVT checkpoint.

    Args:
        checkpoint (dict): The loaded official file (any wrapper).
        arch (str | dict, optional): The HVT arch; read from the keys when
            omitted (:func:`infer_arch`). Defaults to None.
        validate (bool): Check every key and shape against ``HVT(arch)``
            and that the classifier head is there. Defaults to True.
        img_size (int | tuple, optional): The training input size; read
            from ``pos_embed`` (square) when omitted; a non-square grid
            needs it when ``validate`` is set. Defaults to None.

    Returns:
        OrderedDict: the mmpretrain classifier state dict (``backbone.*``,
        ``head.fc.*``).

    Raises:
        CheckpointMismatchError: on keys no rule knows, keys the model needs
        that are missing, and shape mismatches.
    """
    from vit_backbones.models.backbones.hvt import HVT
    state_dict = official_state_dict(checkpoint)
    if arch is None:
        arch = infer_arch(state_dict)
    if img_size is None:
        try:
            img_size = img_size_of(state_dict)
        except CheckpointMismatchError:
            if validate:
                raise
            # The keys do not depend on the grid: the official pooling is
            # 1-D over the token sequence, so any grid of L tokens names
            # the same layers (the model that receives the weights checks
            # the shapes).
            patch = state_dict['patch_embed.proj.weight'].shape[-1]
            img_size = (patch, state_dict['pos_embed'].shape[1] * patch)
    with torch.device('meta'):
        model = HVT(arch=arch, img_size=img_size, drop_path_rate=0.)
    converted = rename_keys(
        state_dict, partial(convert_key, pool_blocks=model.pool_blocks),
        'HVT')
    if validate:
        check_classifier(converted, model, f'HVT {arch!r}')
    return converted
