"""Forward and forward+backward throughput and peak memory of a config's
backbone (or whole model) at given input sizes.

    python tools/analysis_tools/benchmark.py CONFIG --sizes 224 512x512 --batch 2

Against the official implementations, on the same weights, each side in
its own process, and beside stock Swin-T/PVTv2 backbones:
``tools/analysis_tools/benchmark_official.py``.
"""
import argparse

import torch
from mmengine.config import Config, DictAction
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import MODELS, init_default_scope

from vit_backbones.tools.benchmark import time_modules


def parse_size(text):
    if 'x' in text:
        h, w = text.split('x')
        return int(h), int(w)
    return int(text), int(text)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Benchmark a backbone')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--sizes', nargs='+', default=['224'], help='input sizes, HxW or S')
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--iters', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--threads', type=int, help='torch CPU threads')
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, help='override cfg')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    device = torch.device(args.device)
    backbone = model.backbone.to(device)
    print(f'{args.config}: backbone {type(backbone).__name__}, '
          f'batch {args.batch}, {torch.get_num_threads()} threads, {device}')
    for text in args.sizes:
        h, w = parse_size(text)
        x = torch.randn(args.batch, 3, h, w, device=device)
        time_modules([(f'{h}x{w}', backbone)], x, device, args.warmup,
                     args.iters)


if __name__ == '__main__':
    main()
