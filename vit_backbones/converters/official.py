"""Recognise an official checkpoint of the four networks and convert it
while it is loaded.

mmdet's Swin converts the official keys in the backbone
(``convert_weights=True``) and timm passes every file through a
``checkpoint_filter_fn``; here the conversion sits in the loaders that
:mod:`vit_backbones.patches` gives mmengine's ``CheckpointLoader``, so
every route that loads weights takes an official file as it is published:
``init_cfg=dict(type='Pretrained', checkpoint=URL)``, mmpretrain's
``get_model(name, pretrained=True | URL | path)``, ``load_from`` and the
toolboxes' ``tools/test.py CKPT``.

A file is *official* for a network when that network's converter accepts
every one of its keys (:func:`identify`); the conversion is the one the
command-line converters do (the same ``convert``, without the arch check,
which the model that receives the weights makes instead: every backbone
key, name and shape, see ``VitBackbone._load_from_state_dict``). mmengine
and mmpretrain files (with ``meta``) and files no converter accepts are
returned unchanged.

The converted state dict says which network it came from in its
``_metadata`` (the place ``torch`` keeps per-module load metadata), so a
backbone of another network refuses it by name instead of listing a
thousand keys.
"""
from collections import OrderedDict
from typing import Optional

from .common import CheckpointMismatchError

#: ``_metadata`` entry naming the network an official file was converted
#: from (the backbone class name).
NETWORK_KEY = 'official_network'


def _converters() -> 'OrderedDict':
    # Imported here: the converters import the backbones, which import this
    # package's common module.
    from . import dhvt, hat_net, hvt, vil
    return OrderedDict(HVT=hvt, DHVT=dhvt, ViL=vil, HATNet=hat_net)


#: The official repositories, for the messages.
OFFICIAL_CODE = {
    'HVT': 'https://github.com/zhuang-group/HVT',
    'DHVT': 'https://github.com/ArieSeirack/DHVT',
    'ViL': 'https://github.com/microsoft/vision-longformer',
    'HATNet': 'https://github.com/yun-liu/HAT-Net',
}

#: The command-line converter of each network (the offline route).
CONVERTER_CLI = {
    'HVT': 'tools/model_converters/hvt_to_mmpretrain.py',
    'DHVT': 'tools/model_converters/dhvt_to_mmpretrain.py',
    'ViL': 'tools/model_converters/vil_to_mmpretrain.py',
    'HATNet': 'tools/model_converters/hat_net_to_mmpretrain.py',
}


def is_mmengine_checkpoint(checkpoint) -> bool:
    """Whether ``checkpoint`` was written by mmengine/mmcv (or by this
    package's converters): those have ``meta``, which none of the official
    training scripts writes."""
    return isinstance(checkpoint, dict) and 'meta' in checkpoint


def _try_convert(module, checkpoint):
    try:
        return module.convert(checkpoint, validate=False)
    except (CheckpointMismatchError, KeyError, ValueError):
        return None


def identify(checkpoint) -> Optional[str]:
    """The network (backbone class name) whose official format
    ``checkpoint`` is, or None.

    Raises:
        CheckpointMismatchError: when the keys fit more than one network
            (no published file does).
    """
    return _identify(checkpoint)[0]


def _identify(checkpoint):
    if not isinstance(checkpoint, dict) or is_mmengine_checkpoint(checkpoint):
        return None, None
    found = {}
    for network, module in _converters().items():
        converted = _try_convert(module, checkpoint)
        if converted is not None:
            found[network] = converted
    if len(found) > 1:
        raise CheckpointMismatchError(
            f'The checkpoint fits the official formats of {sorted(found)}; '
            'convert it with the command-line converter of the right one.')
    if not found:
        return None, None
    return next(iter(found.items()))


def convert_official(checkpoint, source: str = 'the checkpoint'):
    """``checkpoint`` in the mmpretrain layout: an official file of one of
    the four networks is converted to an ``ImageClassifier`` checkpoint
    (``{'state_dict': {'backbone.*', 'head.fc.*'}, 'meta': ...}``, or
    ``backbone.*`` only for ViL detection files); anything else is
    returned as it is.

    Args:
        checkpoint: what the safe loader read.
        source (str): the file or URL, kept in ``meta['converted_from']``.
    """
    network, state_dict = _identify(checkpoint)
    if network is None:
        return checkpoint
    state_dict = OrderedDict(state_dict)
    # Metadata for the backbone loaded alone ('') and inside a model
    # ('backbone').
    state_dict._metadata = OrderedDict(
        (name, {NETWORK_KEY: network}) for name in ('', 'backbone'))
    return dict(
        state_dict=state_dict,
        meta=dict(converted_from=source, official_network=network))


def official_network_of(checkpoint) -> Optional[str]:
    """The network a checkpoint returned by :func:`convert_official` was
    converted from, or None."""
    if isinstance(checkpoint, dict):
        meta = checkpoint.get('meta')
        if isinstance(meta, dict):
            return meta.get('official_network')
    return None
