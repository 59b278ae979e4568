"""Official HAT-Net checkpoints -> mmpretrain ``ImageClassifier`` with
:class:`~vit_backbones.models.backbones.hat_net.HATNet`.

Supported: the v2.0 release files of https://github.com/yun-liu/HAT-Net
(``HAT-Net_{Tiny,Small,Medium,Large}.pth``), as a raw state dict or wrapped
in ``model``/``state_dict``, with or without a DDP ``module.`` prefix.

Rejected: the v1.0 "TransCNN" files (``TransCNN-*.pth``, the first version
of the paper). They are a different, BatchNorm-based network (residual
max-pool downsampling, other widths and depths) that no HAT-Net arch can
load; they are recognised by their BatchNorm running statistics and their
``ds*.residual``/``ds*.norm1`` downsampling layers.

Key rules (official -> ours, every backbone key gets ``backbone.``)::

    patch_embed.0.*               -> patch_embed.conv1.*
    patch_embed.1.*               -> patch_embed.norm.*
    patch_embed.3.*               -> patch_embed.conv2.*
    blocks.T.I.attn.X.*           -> stages.T.blocks.I.attn.X.*
        (X: norm, qkv, proj, proj_norm, grid_norm, ds_norm, q, kv)
    blocks.T.I.conv.conv1.0.*     -> stages.T.blocks.I.mlp.norm.*
    blocks.T.I.conv.conv1.1.*     -> stages.T.blocks.I.mlp.fc1.*
    blocks.T.I.conv.conv2.0.*     -> stages.T.blocks.I.mlp.dwconv.*
    blocks.T.I.conv.conv3.0.*     -> stages.T.blocks.I.mlp.fc2.*
    blocks.T.I.conv.conv3.1.*     -> stages.T.blocks.I.mlp.out_norm.*
    dsN.conv.* / dsN.norm.*       -> stages.(N-1).downsample.conv.* / .norm.*
    classifier.1.*                -> head.fc.*   (no backbone. prefix)
"""
import re
from collections import OrderedDict
from typing import Dict, Union

import torch

from .common import (CheckpointMismatchError, check_classifier, key_by_rules,
                     rename_keys, strip_prefix, unwrap_state_dict)

_PARAM = r'(weight|bias)'
_BLOCK = r'blocks\.(\d+)\.(\d+)\.'
_STAGE_BLOCK = r'backbone.stages.\1.blocks.\2.'
_RULES = [(re.compile(pattern), replacement) for pattern, replacement in (
    (rf'patch_embed\.0\.{_PARAM}', r'backbone.patch_embed.conv1.\1'),
    (rf'patch_embed\.1\.{_PARAM}', r'backbone.patch_embed.norm.\1'),
    (rf'patch_embed\.3\.{_PARAM}', r'backbone.patch_embed.conv2.\1'),
    (rf'{_BLOCK}attn\.(norm|qkv|proj|proj_norm|grid_norm|ds_norm|q|kv)\.'
     rf'{_PARAM}', _STAGE_BLOCK + r'attn.\3.\4'),
    (rf'{_BLOCK}conv\.conv1\.0\.{_PARAM}', _STAGE_BLOCK + r'mlp.norm.\3'),
    (rf'{_BLOCK}conv\.conv1\.1\.weight', _STAGE_BLOCK + 'mlp.fc1.weight'),
    (rf'{_BLOCK}conv\.conv2\.0\.weight', _STAGE_BLOCK + 'mlp.dwconv.weight'),
    (rf'{_BLOCK}conv\.conv3\.0\.weight', _STAGE_BLOCK + 'mlp.fc2.weight'),
    (rf'{_BLOCK}conv\.conv3\.1\.{_PARAM}',
     _STAGE_BLOCK + r'mlp.out_norm.\3'),
    # dsN leads into stage N - 1 (0-based).
    (rf'ds([234])\.(conv|norm)\.{_PARAM}',
     lambda m: f'backbone.stages.{int(m.group(1)) - 1}.downsample.'
     f'{m.group(2)}.{m.group(3)}'),
    (rf'classifier\.1\.{_PARAM}', r'head.fc.\1'),
)]

TRANSCNN_MESSAGE = (
    'This is a TransCNN v1.0 checkpoint (the first release of the paper, '
    '"Transformer in Convolutional Neural Networks", files TransCNN-*.pth): '
    'a different, BatchNorm-based network with residual max-pool '
    'downsampling that HAT-Net cannot load. Use the v2.0 release files '
    'HAT-Net_{Tiny,Small,Medium,Large}.pth from '
    'https://github.com/yun-liu/HAT-Net/releases/tag/v2.0.')


def convert_key(key: str) -> str:
    """The mmpretrain key of an official HAT-Net key (see the module
    docstring); :class:`CheckpointMismatchError` for a key no rule knows."""
    return key_by_rules(key, _RULES, 'HAT-Net')


def is_transcnn(state_dict: Dict[str, torch.Tensor]) -> bool:
    """Whether ``state_dict`` is a TransCNN v1.0 (BatchNorm) checkpoint."""
    bn_stats = ('running_mean', 'running_var', 'num_batches_tracked')
    return any(
        k.endswith(bn_stats) or re.match(r'ds\d\.(residual|norm1|norm2)\.', k)
        for k in state_dict)


def infer_arch(state_dict: Dict[str, torch.Tensor]) -> dict:
    """Read widths, depths, expansions and DW kernels from an official
    state dict. ``head_dim`` cannot be read from weights and is left out.
    """
    settings = dict(embed_dims=[], depths=[], mlp_ratios=[], kernel_sizes=[])
    for t in range(4):
        qkv = state_dict.get(f'blocks.{t}.0.attn.qkv.weight')
        fc1 = state_dict.get(f'blocks.{t}.0.conv.conv1.1.weight')
        dw = state_dict.get(f'blocks.{t}.0.conv.conv2.0.weight')
        if qkv is None or fc1 is None or dw is None:
            raise CheckpointMismatchError(
                f'Not an official HAT-Net checkpoint: stage {t} has no '
                f'block 0 (looked for blocks.{t}.0.attn.qkv.weight, '
                f'blocks.{t}.0.conv.conv1.1.weight and '
                f'blocks.{t}.0.conv.conv2.0.weight).')
        dim = qkv.shape[1]
        blocks = {
            int(k.split('.')[2])
            for k in state_dict if k.startswith(f'blocks.{t}.')
        }
        settings['embed_dims'].append(int(dim))
        settings['depths'].append(len(blocks))
        settings['mlp_ratios'].append(int(fc1.shape[0] // dim))
        settings['kernel_sizes'].append(int(dw.shape[-1]))
    return settings


def match_arch(state_dict: Dict[str, torch.Tensor],
               arch: Union[str, dict, None] = None) -> Union[str, dict]:
    """The ``HATNet`` arch that fits ``state_dict``.

    With ``arch=None`` the published variants are matched by their widths,
    depths, expansions and kernels. A given ``arch`` is returned as is (the
    key and shape check of :func:`convert` then verifies it).
    """
    if arch is not None:
        return arch
    from vit_backbones.models.backbones.hat_net import HATNet
    found = infer_arch(state_dict)
    for name in ('tiny', 'small', 'medium', 'large'):
        zoo = HATNet.arch_zoo[name]
        if all(list(zoo[k]) == found[k] for k in found):
            return name
    raise CheckpointMismatchError(
        f'The checkpoint matches no published HAT-Net variant ({found}); '
        'pass arch=dict(embed_dims=..., depths=..., head_dim=..., '
        'mlp_ratios=..., kernel_sizes=...) (head_dim cannot be read from '
        'the weights).')


def _build_meta_backbone(arch, state_dict):
    """A ``HATNet`` on the meta device with the key layout of
    ``state_dict`` (its H-MHSA stages are those with ``attn.q``)."""
    from vit_backbones.models.backbones.hat_net import HATNet
    grid_sizes = tuple(2 if f'blocks.{t}.0.attn.q.weight' in state_dict else 1
                       for t in range(4))
    with torch.device('meta'):
        return HATNet(arch=arch, grid_sizes=grid_sizes, init_cfg=None)


def convert(checkpoint: dict,
            *,
            arch: Union[str, dict, None] = None,
            validate: bool = True) -> 'OrderedDict':
    """Convert an official HAT-Net checkpoint.

    Args:
        checkpoint (dict): What ``torch.load`` returned for an official
            file: a state dict, or a dict holding one under ``model`` or
            ``state_dict``; ``module.`` prefixes are stripped.
        arch (str | dict, optional): The ``HATNet`` arch; recognised from
            the weights for the published variants. Defaults to None.
        validate (bool): Check every key and shape against ``HATNet(arch)``
            and that the classifier head is there. Defaults to True.

    Returns:
        OrderedDict: an mmpretrain classifier state dict (``backbone.*``
        and ``head.fc.*``).

    Raises:
        CheckpointMismatchError: for TransCNN v1.0 files, already converted
            files, unknown keys, and missing or misshapen keys.
    """
    state_dict = unwrap_state_dict(
        checkpoint, wrappers=('model', 'state_dict'))
    state_dict = strip_prefix(state_dict, 'module.')
    if is_transcnn(state_dict):
        raise CheckpointMismatchError(TRANSCNN_MESSAGE)
    if any(k.startswith(('backbone.', 'head.')) for k in state_dict):
        raise CheckpointMismatchError(
            'This checkpoint is already in the mmpretrain layout '
            '(backbone.*/head.*); load it directly.')
    converted = rename_keys(state_dict, convert_key, 'HAT-Net')
    if validate:
        model = _build_meta_backbone(match_arch(state_dict, arch), state_dict)
        check_classifier(converted, model, 'HAT-Net')
    return converted
