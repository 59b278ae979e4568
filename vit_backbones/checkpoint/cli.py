"""The command line of the official-checkpoint converters, the same for
every network (``tools/model_converters/<module>_to_mmpretrain.py``)."""
import argparse
import json
import os
from typing import Callable, Optional

from vit_backbones.networks import network

from .files import add_unsafe_load_argument, load_checkpoint_file, \
    save_checkpoint


def parse_arch(text: Optional[str]):
    """``--arch`` of the command lines: a name, or an arch dict as JSON."""
    if text is None:
        return None
    text = text.strip()
    return json.loads(text) if text.startswith('{') else text


def run_cli(name: str,
            argv=None,
            img_size: bool = False,
            add_arguments: Optional[Callable] = None,
            extra_kwargs: Optional[Callable] = None,
            report: Optional[Callable] = None) -> None:
    """The command line of a converter::

        SRC DST [--arch ARCH] [--no-validate] [--img-size N | H W]
                [--unsafe-load]

    ``DST`` ending with ``.safetensors`` writes a safetensors file (the
    network and the source in its header), anything else a ``.pth``
    checkpoint; both load with ``weights_only=True``.

    Args:
        name (str): the network (:func:`vit_backbones.networks.network`:
            its backbone class or module name); its converter's
            ``convert(checkpoint, *, arch, validate, **extra)`` runs.
        argv (list[str], optional): arguments (default: ``sys.argv``).
        img_size (bool): offer ``--img-size N`` or ``--img-size H W``
            (passed as ``img_size``: an int, or an ``(H, W)`` tuple).
        add_arguments (callable, optional): adds network-specific flags.
        extra_kwargs (callable, optional): ``args -> dict`` of further
            keyword arguments of ``convert``.
        report (callable, optional): ``(checkpoint, state_dict, args) ->
            str``, a line printed about what was converted.
    """
    entry = network(name)
    parser = argparse.ArgumentParser(
        description=f'Convert an official {entry.title} checkpoint to an '
        'mmpretrain classifier checkpoint.')
    parser.add_argument('src', help='official checkpoint file')
    parser.add_argument(
        'dst',
        help='where to write the mmpretrain file (.pth, or .safetensors '
        'for a file that cannot carry code)')
    parser.add_argument(
        '--arch',
        help='arch name or a JSON arch dict (default: read from the '
        'weights where the network allows it)')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='skip the check of every key and shape against the backbone')
    add_unsafe_load_argument(parser, 'SRC')
    if img_size:
        parser.add_argument(
            '--img-size',
            type=int,
            nargs='+',
            metavar='SIZE',
            help='training input size the position tables were built for: '
            'N for N x N, or H W (default: read from the weights, square)')
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    kwargs = dict(extra_kwargs(args)) if extra_kwargs is not None else {}
    if img_size and args.img_size is not None:
        size = args.img_size
        if len(size) > 2 or min(size) < 1:
            parser.error('--img-size takes one positive size (N x N) or two '
                         f'(H W), got {" ".join(map(str, size))}')
        kwargs['img_size'] = size[0] if len(size) == 1 else tuple(size)
    checkpoint = load_checkpoint_file(args.src, unsafe=args.unsafe_load)
    state_dict = entry.converter().convert(
        checkpoint,
        arch=parse_arch(args.arch),
        validate=not args.no_validate,
        **kwargs)
    if report is not None:
        print(report(checkpoint, state_dict, args))
    save_checkpoint(
        state_dict, args.dst,
        meta=dict(converted_from=os.path.basename(args.src),
                  network=entry.backbone))
    print(f'Wrote {len(state_dict)} tensors to {args.dst}')
