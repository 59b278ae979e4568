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
``norm.*``                            ``norm.*``
``head.*``                            ``head.fc.*`` (not in ``backbone.``)
====================================  ====================================

Any other key (e.g. ``pos_embed`` of the vanilla-ViT branch, a DeiT or HVT
checkpoint) is rejected, and so is a state dict that misses keys the
backbone needs.
"""
import re
from collections import OrderedDict
from typing import Dict, Optional, Union

import torch

from .common import (CheckpointMismatchError, check_classifier, key_by_rules,
                     rename_keys, strip_prefix, unwrap_state_dict)

_PARAM = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
_BLOCK_RENAMES = {
    'norm1': 'ln1',
    'norm2': 'ln2',
    'attn.qkv': 'attn.qkv',
    'attn.proj': 'attn.proj',
    'attn.ht_proj': 'attn.head_proj',
    'attn.ht_norm': 'attn.head_norm',
    'mlp.conv1': 'ffn.pw_conv1',
    'mlp.conv2': 'ffn.dw_conv',
    'mlp.conv3': 'ffn.pw_conv2',
    'mlp.bn1': 'ffn.norm1',
    'mlp.bn2': 'ffn.norm2',
    'mlp.bn3': 'ffn.norm3',
    'mlp.compress': 'ffn.se_reduce',
    'mlp.excitation': 'ffn.se_expand',
}


def _sope_conv(match) -> str:
    # The official SOPE is a Sequential of (conv + BN, GELU) pairs: the
    # even entries are the convolutions.
    index = int(match.group(1))
    if index % 2:
        raise CheckpointMismatchError(f'{match.group(0)!r}: no SOPE layer.')
    part = 'conv' if match.group(2) == '0' else 'norm'
    return f'backbone.patch_embed.convs.{index // 2}.{part}.{match.group(3)}'


_RULES = [(re.compile(pattern), replacement) for pattern, replacement in (
    (r'cls_token', 'backbone.cls_token'),
    (r'patch_embed\.(pre|post)_affine\.(alpha|beta)',
     r'backbone.patch_embed.\1_affine.\2'),
    (r'patch_embed\.proj\.(\d+)\.([01])\.' + _PARAM, _sope_conv),
    (r'blocks\.(\d+)\.attn\.pos_embed', r'backbone.layers.\1.attn.head_embed'),
    (r'blocks\.(\d+)\.(' + '|'.join(re.escape(k) for k in _BLOCK_RENAMES) +
     r')\.' + _PARAM,
     lambda m: f'backbone.layers.{m.group(1)}.'
     f'{_BLOCK_RENAMES[m.group(2)]}.{m.group(3)}'),
    (r'norm\.(weight|bias)', r'backbone.norm.\1'),
    (r'head\.(weight|bias)', r'head.fc.\1'),
)]


def convert_key(key: str) -> str:
    """The mmpretrain key of an official DHVT key (see the module
    docstring); :class:`CheckpointMismatchError` for a key no rule knows
    (e.g. ``pos_embed`` of the vanilla-ViT branch)."""
    return key_by_rules(key, _RULES, 'DHVT (apply_dhvt=True)')


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


def convert(checkpoint,
            *,
            arch: Union[str, dict, None] = None,
            validate: bool = True,
            use_ema: bool = False) -> 'OrderedDict':
    """Convert an official DHVT checkpoint (file contents or a bare state
    dict).

    Args:
        checkpoint (dict): What ``torch.load`` returned.
        arch (str | dict, optional): The ``DHVT`` arch to validate against;
            read from the weights when omitted (:func:`infer_arch`).
            Defaults to None.
        validate (bool): Check every key and shape against ``DHVT(arch)``
            and that the classifier head is there. Defaults to True.
        use_ema (bool): Take ``model_ema`` instead of ``model``.
            Defaults to False.

    Returns:
        OrderedDict: the mmpretrain classifier state dict (``backbone.*``,
        ``head.fc.*``).
    """
    state_dict = unwrap_state_dict(
        checkpoint,
        wrappers=('model', 'state_dict', 'net'),
        prefer='model_ema' if use_ema else None)
    state_dict = strip_prefix(state_dict, 'module.')
    if any(k.startswith(('backbone.', 'head.fc.')) for k in state_dict):
        raise CheckpointMismatchError(
            'This checkpoint is already in the mmpretrain layout '
            '(backbone.*/head.*); load it directly.')
    converted = rename_keys(state_dict, convert_key,
                            'DHVT (apply_dhvt=True)')
    if validate:
        from vit_backbones.models.backbones.dhvt import DHVT
        if arch is None:
            arch = infer_arch(converted)
        with torch.device('meta'):
            model = DHVT(arch)
        check_classifier(converted, model, 'DHVT')
    return converted


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
