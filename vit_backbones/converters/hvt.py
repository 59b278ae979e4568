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
from typing import Dict, Optional, Tuple, Union

import torch

from .common import (CheckpointMismatchError, check_state_dict,
                     strip_prefix, to_classifier_state_dict,
                     unwrap_state_dict)

HEAD_DIM = 64

_RULES = [
    (re.compile(r'^patch_embed\.proj\.(weight|bias)$'),
     r'patch_embed.projection.\1'),
    (re.compile(r'^pos_embed$'), 'pos_embed'),
    (re.compile(r'^blocks\.(\d+)\.norm([12])\.(weight|bias)$'),
     r'layers.\1.ln\2.\3'),
    (re.compile(r'^blocks\.(\d+)\.attn\.(qkv|proj)\.(weight|bias)$'),
     r'layers.\1.attn.\2.\3'),
    (re.compile(r'^blocks\.(\d+)\.mlp\.fc1\.(weight|bias)$'),
     r'layers.\1.ffn.layers.0.0.\2'),
    (re.compile(r'^blocks\.(\d+)\.mlp\.fc2\.(weight|bias)$'),
     r'layers.\1.ffn.layers.1.\2'),
    (re.compile(r'^norm\.(weight|bias)$'), r'norm.\1'),
]
_STAGE_POS = re.compile(r'^blocks\.(\d+)\.pos_embed$')
_HEAD = re.compile(r'^head\.(weight|bias)$')
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
    num_patches = state_dict['pos_embed'].shape[1]
    side = int(round(num_patches**0.5))
    if side * side != num_patches:
        raise CheckpointMismatchError(
            f'pos_embed has {num_patches} tokens, not a square grid; pass '
            'img_size explicitly.')
    return side * state_dict['patch_embed.proj.weight'].shape[-1]


def convert_key(key: str, pool_rank: Dict[int, int]) -> Optional[str]:
    """Our backbone key for an official one (``None`` if it is not a
    backbone key)."""
    for pattern, repl in _RULES:
        if pattern.match(key):
            return pattern.sub(repl, key)
    m = _STAGE_POS.match(key)
    if m and int(m.group(1)) in pool_rank:
        return f'pools.{pool_rank[int(m.group(1))]}.pos_embed'
    return None


def convert(checkpoint,
            arch: Union[str, dict, None] = None,
            img_size: Union[int, Tuple[int, int], None] = None
            ) -> Tuple['OrderedDict', Union[str, dict]]:
    """Convert an official HVT checkpoint.

    Args:
        checkpoint (dict): the loaded official file (any wrapper).
        arch (str | dict, optional): the HVT arch; read from the keys when
            omitted.
        img_size (int | tuple, optional): the training input size; read
            from ``pos_embed`` (square) when omitted.

    Returns:
        tuple: the mmpretrain classifier state dict (``backbone.*``,
        ``head.fc.*``) and the arch.

    Raises:
        CheckpointMismatchError: on keys no rule knows, keys the model needs
        that are missing, and shape mismatches.
    """
    from vit_backbones.models.backbones.hvt import HVT
    state_dict = official_state_dict(checkpoint)
    if arch is None:
        arch = infer_arch(state_dict)
    if img_size is None:
        img_size = img_size_of(state_dict)
    with torch.device('meta'):
        model = HVT(arch=arch, img_size=img_size, drop_path_rate=0.)
    pool_rank = {b: m for m, b in enumerate(model.pool_blocks)}

    backbone, head, unknown = OrderedDict(), OrderedDict(), []
    for key, value in state_dict.items():
        new_key = convert_key(key, pool_rank)
        if new_key is not None:
            backbone[new_key] = value
            continue
        m = _HEAD.match(key)
        if m:
            head[f'fc.{m.group(1)}'] = value
        else:
            unknown.append(key)
    if unknown:
        raise CheckpointMismatchError(
            f'Keys that no HVT rule knows ({len(unknown)}): {unknown[:20]}. '
            'Is this an official HVT checkpoint of this arch?')
    check_state_dict(backbone, model, what=f'HVT {arch!r} checkpoint')
    missing_head = {'fc.weight', 'fc.bias'} - set(head)
    if missing_head:
        raise CheckpointMismatchError(
            f'The checkpoint has no classifier head ({sorted(missing_head)} '
            'missing).')
    return to_classifier_state_dict(backbone, head), arch
