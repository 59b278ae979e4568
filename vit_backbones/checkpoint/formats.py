"""What a loaded checkpoint is: an mmengine/mmpretrain checkpoint, or an
official file of one of the package's networks, and its conversion.

A file is *official* for a network when that network's converter accepts
every one of its keys; the conversion is the one the command-line
converters make (the same ``convert``, without the arch check, which the
backbone that receives the weights makes instead, key for key and shape
for shape: :mod:`vit_backbones.checkpoint.receive`). mmengine and
mmpretrain files (with ``meta``, which none of the official training
scripts writes) are never trial-converted.

Nothing here runs for a model that is not ours: :mod:`~vit_backbones.
checkpoint.receive` asks only where one of our backbones receives the
weights, and asks first for that backbone's own network.
"""
from collections import OrderedDict
from typing import Optional, Tuple

from vit_backbones.converters.common import CheckpointMismatchError
from vit_backbones.networks import NETWORKS, Network, network


def is_mmengine_checkpoint(checkpoint) -> bool:
    """Whether ``checkpoint`` was written by mmengine/mmcv or by this
    package (converters, ``publish_model.py``, safetensors with our
    header): those have ``meta``."""
    return isinstance(checkpoint, dict) and 'meta' in checkpoint


def convert_as(entry: Network, checkpoint) -> Optional['OrderedDict']:
    """``checkpoint`` converted as an official file of ``entry`` (an
    ``ImageClassifier`` state dict: ``backbone.*``, ``head.fc.*``), or None
    when it is not one."""
    if not isinstance(checkpoint, dict) or is_mmengine_checkpoint(checkpoint):
        return None
    try:
        return entry.converter().convert(checkpoint, validate=False)
    except (CheckpointMismatchError, KeyError, ValueError):
        return None


def identify(checkpoint, first: Optional[str] = None
             ) -> Tuple[Optional[str], Optional['OrderedDict']]:
    """The network (backbone class name) whose official format
    ``checkpoint`` is and its conversion, or ``(None, None)``.

    Args:
        checkpoint: what the safe reader returned.
        first (str, optional): the network to try first (the backbone that
            receives the weights): when it accepts the file, no other
            converter runs.

    Raises:
        CheckpointMismatchError: when the keys fit more than one of the
            other networks (no published file does).
    """
    if first is not None:
        converted = convert_as(network(first), checkpoint)
        if converted is not None:
            return first, converted
    found = {}
    for entry in NETWORKS:
        if entry.backbone == first:
            continue
        converted = convert_as(entry, checkpoint)
        if converted is not None:
            found[entry.backbone] = converted
    if len(found) > 1:
        raise CheckpointMismatchError(
            f'The checkpoint fits the official formats of {sorted(found)}; '
            'convert it with the command-line converter of the right one.')
    if not found:
        return None, None
    return next(iter(found.items()))


def official_checkpoint(network_name: str, state_dict: 'OrderedDict',
                        source: str) -> dict:
    """The mmengine-style checkpoint of a converted official file:
    ``{'state_dict': ..., 'meta': {'converted_from', 'network'}}``."""
    return dict(state_dict=OrderedDict(state_dict),
                meta=dict(converted_from=source, network=network_name))
