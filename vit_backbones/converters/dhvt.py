"""Convert checkpoints of the official DHVT code (``ArieSeirack/DHVT``) to
mmpretrain classifiers with the :class:`~vit_backbones.models.DHVT` backbone.

The official ``main.py`` saves ``{'model', 'model_ema', 'optimizer',
'lr_scheduler', 'epoch', 'scaler', 'args'}``; ``model`` and ``model_ema``
(timm's ``ModelEma``) hold state dicts with the same keys. The paper's
accuracies are those of ``model``; ``model_ema`` is the exponential moving
average (decay 0.99996). BN running statistics and ``num_batches_tracked``
are kept.

Key rules (official -> ours; ours are under ``backbone.`` except the head,
``{i}`` is a block and ``{j}`` a SOPE convolution):

====================================  ====================================
official                              ours
====================================  ====================================
``cls_token``                         ``cls_token``
``patch_embed.{pre,post}_affine.*``   ``patch_embed.{pre,post}_affine.*``
``patch_embed.proj.{2j}.0.weight``    ``patch_embed.convs.{j}.conv.weight``
``patch_embed.proj.{2j}.1.*``         ``patch_embed.convs.{j}.norm.*``
``blocks.{i}.norm1/norm2.*``          ``layers.{i}.ln1/ln2.*``
``blocks.{i}.attn.qkv/proj.*``        ``layers.{i}.attn.qkv/proj.*``
``blocks.{i}.attn.ht_proj.*``         ``layers.{i}.attn.head_proj.*``
``blocks.{i}.attn.ht_norm.*``         ``layers.{i}.attn.head_norm.*``
``blocks.{i}.attn.pos_embed``         ``layers.{i}.attn.head_embed``
``blocks.{i}.mlp.conv1.*``            ``layers.{i}.ffn.pw_conv1.*``
``blocks.{i}.mlp.conv2.*``            ``layers.{i}.ffn.dw_conv.*``
``blocks.{i}.mlp.conv3.*``            ``layers.{i}.ffn.pw_conv2.*``
``blocks.{i}.mlp.bn1/bn2/bn3.*``      ``layers.{i}.ffn.norm1/norm2/norm3.*``
``blocks.{i}.mlp.compress.*``         ``layers.{i}.ffn.se_reduce.*``
``blocks.{i}.mlp.excitation.*``       ``layers.{i}.ffn.se_expand.*``
``norm.*``                            ``ln1.*``
``head.*``                            ``head.fc.*`` (not in ``backbone.``)
====================================  ====================================

Any other key (e.g. ``pos_embed`` of the vanilla-ViT branch, a DeiT or HVT
checkpoint) is rejected, and so is a state dict that misses keys the
backbone needs.
"""
import re
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import torch

from .common import (CheckpointMismatchError, check_state_dict,
                     strip_prefix, to_classifier_state_dict,
                     unwrap_state_dict)

_BLOCK_RENAMES = (
    ('norm1.', 'ln1.'),
    ('norm2.', 'ln2.'),
    ('attn.qkv.', 'attn.qkv.'),
    ('attn.proj.', 'attn.proj.'),
    ('attn.ht_proj.', 'attn.head_proj.'),
    ('attn.ht_norm.', 'attn.head_norm.'),
    ('mlp.conv1.', 'ffn.pw_conv1.'),
    ('mlp.conv2.', 'ffn.dw_conv.'),
    ('mlp.conv3.', 'ffn.pw_conv2.'),
    ('mlp.bn1.', 'ffn.norm1.'),
    ('mlp.bn2.', 'ffn.norm2.'),
    ('mlp.bn3.', 'ffn.norm3.'),
    ('mlp.compress.', 'ffn.se_reduce.'),
    ('mlp.excitation.', 'ffn.se_expand.'),
)
_PARAM = r'(weight|bias|running_mean|running_var|num_batches_tracked)'


def convert_key(key: str) -> Tuple[str, str]:
    """Map one official key to ``('backbone' | 'head', new_key)``.

    Raises:
        CheckpointMismatchError: for a key that no rule knows.
    """
    if key == 'cls_token':
        return 'backbone', key
    match = re.fullmatch(r'patch_embed\.(pre|post)_affine\.(alpha|beta)',
                         key)
    if match:
        return 'backbone', key
    match = re.fullmatch(r'patch_embed\.proj\.(\d+)\.([01])\.' + _PARAM, key)
    if match and int(match.group(1)) % 2 == 0:
        index = int(match.group(1)) // 2
        part = 'conv' if match.group(2) == '0' else 'norm'
        return 'backbone', (f'patch_embed.convs.{index}.{part}.'
                            f'{match.group(3)}')
    match = re.fullmatch(r'blocks\.(\d+)\.(.+)', key)
    if match:
        index, rest = match.groups()
        if rest == 'attn.pos_embed':
            return 'backbone', f'layers.{index}.attn.head_embed'
        for old, new in _BLOCK_RENAMES:
            if rest.startswith(old) and re.fullmatch(_PARAM,
                                                     rest[len(old):]):
                return 'backbone', f'layers.{index}.{new}{rest[len(old):]}'
    match = re.fullmatch(r'norm\.(weight|bias)', key)
    if match:
        return 'backbone', f'ln1.{match.group(1)}'
    match = re.fullmatch(r'head\.(weight|bias)', key)
    if match:
        return 'head', f'fc.{match.group(1)}'
    raise CheckpointMismatchError(
        f'Unknown key {key!r}: not part of an official DHVT '
        '(apply_dhvt=True) state dict.')


def convert(state_dict: Dict[str, torch.Tensor]
            ) -> Tuple['OrderedDict', 'OrderedDict']:
    """Split an official state dict into backbone and head state dicts with
    our names (see the module docstring); fails on unknown keys."""
    state_dict = strip_prefix(state_dict, 'module.')
    backbone, head = OrderedDict(), OrderedDict()
    unknown = []
    for key, value in state_dict.items():
        try:
            part, new_key = convert_key(key)
        except CheckpointMismatchError:
            unknown.append(key)
            continue
        (backbone if part == 'backbone' else head)[new_key] = value
    if unknown:
        raise CheckpointMismatchError(
            f'{len(unknown)} keys are not part of an official DHVT state '
            f'dict (apply_dhvt=True), e.g. {unknown[:10]}.')
    return backbone, head


def infer_arch(state_dict: Dict[str, torch.Tensor]) -> dict:
    """The ``DHVT`` arch dict of an official state dict (or of one already
    converted by :func:`convert`)."""
    sd = strip_prefix(state_dict, 'module.')
    sd = OrderedDict((k[len('backbone.'):] if k.startswith('backbone.')
                      else k, v) for k, v in sd.items())
    if 'cls_token' not in sd:
        raise CheckpointMismatchError(
            'No cls_token: this is not a DHVT state dict.')
    embed_dims = sd['cls_token'].shape[-1]
    block_key = re.compile(r'(?:blocks|layers)\.(\d+)\.')
    blocks = {int(m.group(1)) for k in sd for m in [block_key.match(k)]
              if m}
    if not blocks:
        raise CheckpointMismatchError('No blocks found in the state dict.')
    head_embed = [
        v for k, v in sd.items()
        if k.endswith('attn.pos_embed') or k.endswith('attn.head_embed')
    ]
    if not head_embed:
        raise CheckpointMismatchError(
            'No head-token embedding (attn.pos_embed) found: this is not a '
            'DHVT state dict.')
    conv_key = re.compile(
        r'patch_embed\.(?:proj\.(\d+)\.0|convs\.(\d+)\.conv)\.weight')
    num_convs = sum(1 for k in sd if conv_key.fullmatch(k))
    if num_convs == 0:
        raise CheckpointMismatchError('No SOPE convolutions found.')
    hidden = [
        v.shape[0] for k, v in sd.items()
        if re.fullmatch(r'(?:blocks|layers)\.0\.(?:mlp\.conv1|'
                        r'ffn\.pw_conv1)\.weight', k)
    ]
    arch = dict(
        embed_dims=embed_dims,
        num_layers=max(blocks) + 1,
        num_heads=head_embed[0].shape[1],
        patch_size=2**num_convs)
    if hidden and hidden[0] != 4 * embed_dims:
        arch['mlp_ratio'] = hidden[0] / embed_dims
    return arch


def convert_checkpoint(checkpoint,
                       use_ema: bool = False,
                       validate: bool = True) -> 'OrderedDict':
    """An official checkpoint (file contents or a bare state dict) to the
    state dict of an mmpretrain ``ImageClassifier`` (``backbone.*``,
    ``head.fc.*``).

    Args:
        checkpoint (dict): what ``torch.load`` returned.
        use_ema (bool): take ``model_ema`` instead of ``model``.
        validate (bool): build the inferred ``DHVT`` and check that the keys
            and shapes match it exactly.
    """
    state_dict = unwrap_state_dict(
        checkpoint,
        wrappers=('model', 'state_dict', 'net'),
        prefer='model_ema' if use_ema else None)
    backbone, head = convert(state_dict)
    if validate:
        from vit_backbones.models.backbones.dhvt import DHVT
        arch = infer_arch(backbone)
        with torch.device('meta'):
            model = DHVT(arch)
        check_state_dict(backbone, model, 'converted DHVT checkpoint')
        if set(head) != {'fc.weight', 'fc.bias'}:
            raise CheckpointMismatchError(
                f'The checkpoint has no classifier head (head.weight, '
                f'head.bias); found head keys {sorted(head)}.')
    return to_classifier_state_dict(backbone, head)


def official_model_name(checkpoint) -> Optional[str]:
    """The official model name (e.g. ``'dhvt_tiny_cifar_patch4'``, an
    alias in ``DHVT.arch_zoo``) stored in the checkpoint's ``args``."""
    args = checkpoint.get('args') if isinstance(checkpoint, dict) else None
    name = getattr(args, 'model', None)
    return name if isinstance(name, str) else None


def arch_name(arch: dict, num_classes: Optional[int] = None) -> Optional[str]:
    """The canonical ``DHVT.arch_zoo`` name of an arch dict, if any.

    ``small-in1k-p16`` and ``small-domainnet-p16`` share one architecture;
    ``num_classes`` (1000 or 345) tells them apart.
    """
    from vit_backbones.models.backbones.dhvt import DHVT
    matches = [
        name for name, settings in DHVT.arch_zoo.items()
        if name.startswith(('tiny-', 'small-')) and set(arch) <= set(
            settings) and {k: arch.get(k)
                           for k in settings} == settings
    ]
    dataset = {100: 'cifar', 1000: 'in1k', 345: 'domainnet'}.get(num_classes)
    preferred = [name for name in matches if f'-{dataset}-' in name]
    if preferred:
        return preferred[0]
    return matches[0] if matches else None
