"""Helpers shared by the official-checkpoint converters.

Each network has a module here with a pure ``convert(state_dict, ...)``
mapping (importable and tested); ``tools/model_converters/*.py`` are thin
command-line wrappers around :func:`run_cli`.
"""
import argparse
import os
from collections import OrderedDict
from typing import Callable, Dict, Iterable, Optional

import torch

from vit_backbones.compat import load_trusted_checkpoint


class CheckpointMismatchError(ValueError):
    """A checkpoint does not fit the model it is meant for."""


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
        lines = [f'The {what} does not fit {type(model).__name__}:']
        if missing:
            lines.append(f'  missing keys ({len(missing)}): {missing[:20]}')
        if unexpected:
            lines.append(
                f'  unexpected keys ({len(unexpected)}): {unexpected[:20]}')
        if wrong:
            lines.append('  shape mismatches (key, checkpoint, model): '
                         f'{wrong[:20]}')
        raise CheckpointMismatchError('\n'.join(lines))


def to_classifier_state_dict(backbone: Dict[str, torch.Tensor],
                             head: Dict[str, torch.Tensor]) -> 'OrderedDict':
    """Prefix backbone keys with ``backbone.`` and head keys with
    ``head.``, the layout of mmpretrain ``ImageClassifier`` checkpoints."""
    out = OrderedDict(('backbone.' + k, v) for k, v in backbone.items())
    out.update(('head.' + k, v) for k, v in head.items())
    return out


def save_checkpoint(state_dict: Dict[str, torch.Tensor], dst: str,
                    meta: Optional[dict] = None) -> None:
    """Save ``{'state_dict': ..., 'meta': ...}`` (tensors and plain values
    only, so it loads with ``weights_only=True``)."""
    dirname = os.path.dirname(os.path.abspath(dst))
    os.makedirs(dirname, exist_ok=True)
    torch.save({'state_dict': state_dict, 'meta': dict(meta or {})}, dst)


def run_cli(description: str,
            convert: Callable[..., Dict[str, torch.Tensor]],
            add_arguments: Optional[Callable] = None,
            argv=None) -> None:
    """Command line of a converter: ``SRC DST [options]``.

    ``convert(checkpoint, args)`` receives the loaded source file and the
    parsed arguments and returns the mmpretrain state dict.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('src', help='official checkpoint file')
    parser.add_argument('dst', help='where to write the mmpretrain file')
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    checkpoint = load_trusted_checkpoint(args.src)
    state_dict = convert(checkpoint, args)
    save_checkpoint(
        state_dict, args.dst,
        meta=dict(converted_from=os.path.basename(args.src)))
    print(f'Wrote {len(state_dict)} tensors to {args.dst}')
