"""Export a config's model (or its backbone) to ONNX and check it.

The model is exported in tensor mode (raw outputs: classifier logits, the
detection head's per-level scores and box deltas, the segmentation logits;
no data pre-processing, no NMS or resizing of results) with
``torch.export`` and the dynamo-based ONNX exporter, then run in
onnxruntime (CPU) next to PyTorch::

    python tools/deployment/pytorch2onnx.py \\
        configs/hat_net/retinanet_hat-net-tiny_fpn_1x_coco.py CHECKPOINT \\
        --shape 800 1216 --dynamic --out retinanet_hat-net-tiny.onnx
    python tools/deployment/pytorch2onnx.py CONFIG --part backbone \\
        --shape 512 512 --dynamic

With ``--dynamic`` the file takes any height and width in
``--min-size``..``--max-size`` (default 64..2048, or the network's minimum)
and is checked at the export size and at ``--check-shape`` (by default a
size that is no multiple of 32). It prints the largest difference between
onnxruntime and PyTorch, the largest output and the file's size; the exit
status is 1 when the difference exceeds ``--atol + --rtol * largest
output`` (the file is then removed): float32 rounding grows with the size
of the outputs (e.g. segmentation logits of |70|). Without a
checkpoint the weights are random (as built, without the config's
``init_cfg``), which is enough to check the graph.
"""
import argparse
import os
import os.path as osp
import sys
import time

import torch
from mmengine.config import Config, DictAction
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import MODELS, init_default_scope
from mmengine.runner import load_checkpoint

import vit_backbones  # noqa: F401
from vit_backbones.deploy import (TensorModeModel, compare_with_onnxruntime,
                                  export_onnx, size_range)
from vit_backbones.checkpoint.files import add_unsafe_load_argument
from vit_backbones.tools.runtime import setup_runtime


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Export a model to ONNX and check it in onnxruntime')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', nargs='?', help='checkpoint file')
    parser.add_argument(
        '--shape',
        type=int,
        nargs='+',
        default=[224],
        help='export input H W (or one size); default 224')
    parser.add_argument(
        '--part',
        choices=['model', 'backbone'],
        default='model',
        help='the whole model in tensor mode (default) or its backbone')
    parser.add_argument(
        '--dynamic',
        action='store_true',
        help='dynamic input height and width')
    parser.add_argument(
        '--min-size', type=int, help='smallest dynamic H/W (default 64)')
    parser.add_argument(
        '--max-size', type=int, help='largest dynamic H/W (default 2048)')
    parser.add_argument(
        '--check-shape',
        type=int,
        nargs='+',
        help='second input H W to check a dynamic file at')
    parser.add_argument(
        '--batch-size', type=int, default=1, help='batch size (fixed)')
    parser.add_argument(
        '--out', help='output file (default: <config name>.onnx)')
    parser.add_argument(
        '--atol',
        type=float,
        default=1e-4,
        help='accepted absolute difference to PyTorch (default 1e-4)')
    parser.add_argument(
        '--rtol',
        type=float,
        default=1e-5,
        help='accepted difference per unit of the largest output '
        '(default 1e-5)')
    parser.add_argument(
        '--opset', type=int, default=18, help='ONNX opset (default 18)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, help='override cfg')
    add_unsafe_load_argument(parser, 'the checkpoint')
    return parser.parse_args(argv)


def two_sizes(values, name):
    if values is None:
        return None
    if len(values) == 1:
        return values[0], values[0]
    if len(values) == 2:
        return tuple(values)
    raise SystemExit(f'{name} takes H W or one size, got {values}.')


def build_model(cfg, checkpoint=None):
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model = MODELS.build(cfg.model)
    # Without a checkpoint the weights stay as built (random), and the
    # config's init_cfg (often a pretrained file) is not applied.
    if checkpoint:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    return revert_sync_batchnorm(model).eval()


def default_check_shape(shape, low, high):
    """A second size, different from ``shape`` and no multiple of 32."""
    h = min(max(shape[0] * 3 // 4 + 7, low[0]), high[0])
    w = min(max(shape[1] * 5 // 4 + 13, low[1]), high[1])
    if (h, w) == tuple(shape):
        h = max(low[0], h - 9)
    return h, w


def main(argv=None):
    args = parse_args(argv)
    setup_runtime(unsafe_load=args.unsafe_load)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.atol < 0 or args.rtol < 0:
        raise SystemExit('--atol and --rtol must not be negative.')
    shape = two_sizes(args.shape, '--shape')
    model = TensorModeModel(build_model(cfg, args.checkpoint), args.part)
    out = args.out or osp.splitext(osp.basename(args.config))[0] + (
        '_backbone' if args.part == 'backbone' else '') + '.onnx'

    check_shapes = [shape]
    if args.dynamic:
        low, high = size_range(model, args.min_size, args.max_size)
        second = two_sizes(args.check_shape, '--check-shape') or \
            default_check_shape(shape, low, high)
        check_shapes.append(second)
    elif args.check_shape:
        raise SystemExit('--check-shape needs --dynamic: a static file takes '
                         'only the export size.')

    torch.manual_seed(0)
    example = torch.randn(args.batch_size, 3, *shape)
    start = time.perf_counter()
    export_onnx(
        model,
        example,
        out,
        dynamic=args.dynamic,
        min_size=args.min_size,
        max_size=args.max_size,
        opset_version=args.opset)
    seconds = time.perf_counter() - start
    inputs = [torch.randn(args.batch_size, 3, *s) for s in check_shapes]
    result = compare_with_onnxruntime(out, model, inputs)
    diff, scale = result['max_abs_diff'], result['max_abs_output']
    tolerance = args.atol + args.rtol * scale

    size_mib = os.path.getsize(out) / 2**20
    split = '=' * 62
    print(split)
    print(f'Config: {args.config}   part: {args.part}')
    print(f'ONNX file: {out} ({size_mib:.1f} MiB), exported in '
          f'{seconds:.1f} s')
    if args.dynamic:
        print(f'Input: (B={args.batch_size}, 3, height, width), height '
              f'{low[0]}..{high[0]}, width {low[1]}..{high[1]}')
    else:
        print(f'Input: {tuple(example.shape)} (static)')
    checked = ', '.join(f'{h}x{w}' for h, w in check_shapes)
    print(f'onnxruntime vs PyTorch at {checked}: max abs diff {diff:.3g} '
          f'(largest output {scale:.3g}; tolerance {args.atol:g} + '
          f'{args.rtol:g} x {scale:.3g} = {tolerance:.3g})')
    print(split)
    if diff > tolerance:
        os.remove(out)
        print(f'FAILED: the difference exceeds {tolerance:.3g}; {out} was '
              'removed', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
