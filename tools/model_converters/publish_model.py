"""Publish a training checkpoint to the model zoo.

    python tools/model_converters/publish_model.py work_dirs/x/epoch_300.pth \
        hat-net-tiny_8xb128_in1k.pth [--no-ema] [--config CONFIG] \
        [--format pth safetensors]

Strips the optimizer, schedulers and message hub, keeps the EMA weights (or
the raw ones with --no-ema) and plain metadata, writes
``hat-net-tiny_8xb128_in1k_<YYYYMMDD>-<sha256[:8]>.pth`` (loadable with
``torch.load(weights_only=True)``) and/or ``.safetensors`` (``--format``:
weights only, a file that cannot carry code, with the metadata in its
header) and prints the metafile entry of each to paste,
with the task, dataset, collection and config read from the checkpoint (the
metrics come from running tools/test.py on the published file).
"""
import argparse
import os.path as osp

from vit_backbones.checkpoint.files import add_unsafe_load_argument
from vit_backbones.tools.publish import (FORMATS, metafile_entry,
                                         publish_checkpoint)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('src', help='training checkpoint')
    parser.add_argument('out', help='output path without date and hash')
    parser.add_argument(
        '--no-ema',
        action='store_true',
        help='publish the raw weights of an EMA run instead of the average')
    parser.add_argument(
        '--config', help='config of the model (for the metafile entry)')
    parser.add_argument(
        '--weights-url',
        default='https://example.com/vit_backbones',
        help='where the file will be hosted (for the metafile entry)')
    parser.add_argument(
        '--format',
        nargs='+',
        choices=FORMATS,
        default=['pth'],
        help='what to write: a .pth, a .safetensors (weights only, cannot '
        'carry code), or both (default: pth)')
    add_unsafe_load_argument(parser, 'SRC')
    args = parser.parse_args(argv)
    result = publish_checkpoint(args.src, args.out, ema=not args.no_ema,
                                unsafe_load=args.unsafe_load,
                                formats=args.format)
    for published in result['files']:
        print(f'Published {published["path"]} (sha256 '
              f'{published["sha256"]}, {result["num_params"]:,} parameters)')
        name = osp.basename(published['path']).rsplit('_', 1)[0]
        print('Metafile entry (then fill FLOPs with '
              'tools/misc/refresh_metafile.py):')
        print(metafile_entry(dict(result, **published), name, args.config,
                             args.weights_url))


if __name__ == '__main__':
    main()
