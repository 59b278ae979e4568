"""Helpers shared by the official-checkpoint converters.

Every network has a module here with the same API:

* ``convert(checkpoint, *, arch=None, validate=True, ...) -> OrderedDict``
  turns a loaded official file into an mmpretrain ``ImageClassifier``
  state dict (``backbone.*``, ``head.fc.*``). ``arch`` (a name or a dict)
  is inferred from the weights where the network allows it;
  ``validate=True`` checks the result key for key and shape for shape
  against the backbone built on the meta device. Extra keyword arguments
  are what a network genuinely needs (HVT's ``img_size``, DHVT's
  ``use_ema``, ViL's position tables).
* ``convert_key(key, ...) -> str``: the mmpretrain key of one official
  key, ``backbone.``/``head.`` prefixed, ``None`` for a key that is dropped
  on purpose, :class:`CheckpointMismatchError` for a key no rule knows.
  :func:`key_by_rules` applies a table of regular expressions and
  :func:`rename_keys` a whole state dict, listing every unknown key.

The converters read and write no file and import nothing above the
models: ``tools/model_converters/<net>_to_mmpretrain.py`` are thin command
lines around :func:`vit_backbones.checkpoint.cli.run_cli`, with the same
flags everywhere, and the loading layer (:mod:`vit_backbones.checkpoint`)
converts an official file where one of our backbones receives it.
"""
import re
from collections import OrderedDict
from typing import Callable, Dict, Iterable, Optional, Sequence, Tuple

import torch


class CheckpointMismatchError(ValueError, KeyError):
    """A checkpoint does not fit the model it is meant for.

    Also a ``KeyError``, which the backbones' ``Pretrained`` loads raised
    before, so that code catching it keeps working."""

    # KeyError's str() is the repr of its argument; the messages here are
    # meant to be read.
    __str__ = ValueError.__str__


def unwrap_state_dict(checkpoint,
                      wrappers: Iterable[str] = ('state_dict', 'model',
                                                 'net'),
                      prefer: Optional[str] = None) -> 'OrderedDict':
    """Return the tensor dict inside an official checkpoint file.

    Args:
        checkpoint (dict): what ``torch.load`` returned.
        wrappers (Iterable[str]): keys that may hold the state dict, tried
            in order.
        prefer (str, optional): a wrapper key to take first (e.g.
            ``'model_ema'``); it must exist.
    """
    if not isinstance(checkpoint, dict):
        raise CheckpointMismatchError(
            f'Expected a dict checkpoint, got {type(checkpoint).__name__}.')
    if prefer is not None:
        if prefer not in checkpoint:
            raise CheckpointMismatchError(
                f'The checkpoint has no {prefer!r} entry; it has '
                f'{sorted(checkpoint)}.')
        state_dict = checkpoint[prefer]
    else:
        state_dict = checkpoint
        for key in wrappers:
            if key in checkpoint and isinstance(checkpoint[key], dict):
                state_dict = checkpoint[key]
                break
    tensors = OrderedDict(
        (k, v) for k, v in state_dict.items() if isinstance(v, torch.Tensor))
    if not tensors:
        raise CheckpointMismatchError(
            f'No tensors found in the checkpoint (top-level keys: '
            f'{sorted(checkpoint)[:10]}).')
    return tensors


def strip_prefix(state_dict: Dict[str, torch.Tensor],
                 prefix: str = 'module.') -> 'OrderedDict':
    """Remove ``prefix`` from every key that has it."""
    return OrderedDict(
        (k[len(prefix):] if k.startswith(prefix) else k, v)
        for k, v in state_dict.items())


def check_state_dict(state_dict: Dict[str, torch.Tensor],
                     model: torch.nn.Module,
                     what: str = 'checkpoint',
                     allow_missing: Iterable[str] = ()) -> None:
    """Raise :class:`CheckpointMismatchError` unless ``state_dict`` has
    exactly the keys and shapes of ``model.state_dict()``.

    ``allow_missing`` lists key substrings the model may have without the
    checkpoint providing them.
    """
    expected = model.state_dict()
    missing = [
        k for k in expected if k not in state_dict
        and not any(s in k for s in allow_missing)
    ]
    unexpected = [k for k in state_dict if k not in expected]
    wrong = [(k, tuple(state_dict[k].shape), tuple(expected[k].shape))
             for k in state_dict
             if k in expected and state_dict[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise CheckpointMismatchError(
            mismatch_message(f'The {what} does not fit '
                             f'{type(model).__name__}:', missing, unexpected,
                             wrong))


def mismatch_message(title: str, missing: Sequence[str],
                     unexpected: Sequence[str],
                     wrong: Sequence[tuple]) -> str:
    """``title``, then a line each for the missing keys, the unexpected
    keys and the ``(key, checkpoint shape, model shape)`` mismatches that
    there are (20 of each at most)."""
    lines = [title]
    if missing:
        lines.append(f'  missing keys ({len(missing)}): {list(missing[:20])}')
    if unexpected:
        lines.append(f'  unexpected keys ({len(unexpected)}): '
                     f'{list(unexpected[:20])}')
    if wrong:
        lines.append('  shape mismatches (key, checkpoint, model): '
                     f'{list(wrong[:20])}')
    return '\n'.join(lines)


def key_by_rules(key: str, rules: Sequence[Tuple['re.Pattern', object]],
                 network: str) -> str:
    """The new key of ``key`` by the first rule whose pattern matches it
    whole.

    Args:
        key (str): an official key.
        rules (Sequence[tuple]): ``(compiled pattern, replacement)`` pairs;
            the replacement is a ``Match.expand`` template or a function of
            the match.
        network (str): the network's name, for the message.

    Raises:
        CheckpointMismatchError: when no rule matches.
    """
    for pattern, replacement in rules:
        match = pattern.fullmatch(key)
        if match is not None:
            if callable(replacement):
                return replacement(match)
            return match.expand(replacement)
    raise CheckpointMismatchError(
        f'Unknown key {key!r}: not part of an official {network} '
        'checkpoint.')


def rename_keys(state_dict: Dict[str, torch.Tensor],
                convert_key: Callable[[str], Optional[str]],
                network: str) -> 'OrderedDict':
    """Apply ``convert_key`` to every key of ``state_dict``.

    A key it maps to ``None`` is dropped; the keys it refuses are collected
    and reported together in one :class:`CheckpointMismatchError`.
    """
    out, unknown = OrderedDict(), []
    for key, value in state_dict.items():
        try:
            new_key = convert_key(key)
        except CheckpointMismatchError:
            unknown.append(key)
            continue
        if new_key is not None:
            out[new_key] = value
    if unknown:
        raise CheckpointMismatchError(
            f'{len(unknown)} keys are not part of an official {network} '
            f'checkpoint, e.g. {unknown[:20]}. Is this a {network} '
            'checkpoint of this arch?')
    return out


def check_classifier(state_dict: Dict[str, torch.Tensor],
                     backbone: torch.nn.Module,
                     network: str,
                     require_head: bool = True) -> None:
    """Raise :class:`CheckpointMismatchError` unless ``state_dict`` is an
    ``ImageClassifier`` state dict whose ``backbone.*`` fits ``backbone``
    exactly and (with ``require_head``) has a ``head.fc`` linear."""
    check_state_dict(backbone_state_dict(state_dict), backbone,
                     what=f'converted {network} checkpoint')
    head = {k for k in state_dict if not k.startswith('backbone.')}
    if require_head and head != {'head.fc.weight', 'head.fc.bias'}:
        raise CheckpointMismatchError(
            f'The {network} checkpoint has no classifier head '
            f'(head.fc.weight and head.fc.bias); found {sorted(head)}.')
    if not require_head and head:
        raise CheckpointMismatchError(
            f'Unexpected keys in the converted {network} backbone: '
            f'{sorted(head)[:20]}.')


def square_grid_side_of(state_dict: Dict[str, torch.Tensor], key: str) -> int:
    """The side of the square token grid of the ``(1, L, C)`` table
    ``state_dict[key]``; :class:`CheckpointMismatchError` if ``L`` is not a
    square."""
    from vit_backbones.models.utils import square_grid_side
    try:
        return square_grid_side(state_dict[key].shape[1], key)
    except ValueError as error:
        raise CheckpointMismatchError(
            f'{error} Pass img_size explicitly.') from None


def backbone_state_dict(state_dict: Dict[str, torch.Tensor]
                        ) -> 'OrderedDict':
    """The ``backbone.*`` tensors of a converted checkpoint, without the
    prefix: what ``backbone.load_state_dict`` takes."""
    return OrderedDict((k[len('backbone.'):], v)
                       for k, v in state_dict.items()
                       if k.startswith('backbone.'))
