"""Benchmark our DHVT against the official implementation on the same
weights, side by side in one process.

The official model is imported at run time from a checkout of
``ArieSeirack/DHVT`` (nothing official is part of this repository); it needs
timm 0.4.12 and einops importable, e.g.::

    git clone https://github.com/ArieSeirack/DHVT /path/to/DHVT
    pip install --target /path/to/pydeps --no-deps timm==0.4.12
    PYTHONPATH=/path/to/pydeps python tools/analysis_tools/benchmark_dhvt.py \\
        --official-repo /path/to/DHVT --arch tiny-in1k-p16 --sizes 224 \\
        --batch 8

The official weights are random (official init) and copied into ours with
:mod:`vit_backbones.converters.dhvt`; the script first checks that both give
the same logits in eval mode. Both models are timed as whole classifiers
(backbone + linear head): a no-grad forward in eval mode and a forward +
backward in train mode. Speed ratios above 1 mean ours is faster; memory
ratios below 1 mean ours needs less (printed on GPU only: on CPU the memory
column is the growth of resident memory, which allocator caching blurs).
The official DAFF needs a square token grid, so the sizes must be square.
"""
import argparse
import contextlib
import importlib
import io
import os.path as osp
import sys
import types

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from vit_backbones.benchmark import time_modules  # noqa: E402
from vit_backbones.converters.common import \
    backbone_state_dict  # noqa: E402
from vit_backbones.converters.dhvt import convert  # noqa: E402
from vit_backbones.models.backbones.dhvt import DHVT  # noqa: E402

# our arch name -> official model function, number of classes
OFFICIAL = {
    'tiny-cifar-p4': ('dhvt_tiny_cifar_patch4', 100),
    'small-cifar-p4': ('dhvt_small_cifar_patch4', 100),
    'tiny-cifar-p2': ('dhvt_tiny_cifar_patch2', 100),
    'small-cifar-p2': ('dhvt_small_cifar_patch2', 100),
    'tiny-in1k-p16': ('dhvt_tiny_imagenet_patch16', 1000),
    'small-in1k-p16': ('dhvt_small_imagenet_patch16', 1000),
    'tiny-domainnet-p16': ('dhvt_tiny_domain_patch16', 345),
    'small-domainnet-p16': ('dhvt_small_domain_patch16', 345),
}


class Classifier(nn.Module):
    """Our backbone with the linear head of the official model."""

    def __init__(self, backbone: DHVT, num_classes: int):
        super().__init__()
        self.backbone = backbone
        self.fc = nn.Linear(backbone.embed_dims, num_classes)

    def forward(self, x):
        return self.fc(self.backbone(x)[-1])


def import_official(repo: str):
    """``vision_transformer`` of an official checkout."""
    sys.path.insert(0, osp.abspath(repo))
    try:
        importlib.import_module('torchprofile')
    except ImportError:
        # The official helpers.py imports torchprofile for its FLOP
        # counter only; the model does not need it.
        stub = types.ModuleType('torchprofile')
        stub.profile_macs = None
        sys.modules['torchprofile'] = stub
    return importlib.import_module('vision_transformer')


def build_pair(official_module, arch: str, size: int):
    fn, num_classes = OFFICIAL[arch]
    with contextlib.redirect_stdout(io.StringIO()):  # it prints the model
        official = getattr(official_module, fn)(
            num_classes=num_classes, img_size=(size, size))
    state_dict = convert({'model': official.state_dict()}, arch=arch)
    ours = Classifier(DHVT(arch), num_classes)
    ours.backbone.load_state_dict(backbone_state_dict(state_dict))
    ours.fc.load_state_dict({
        'weight': state_dict['head.fc.weight'],
        'bias': state_dict['head.fc.bias']
    })
    return official, ours


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--official-repo', required=True,
        help='checkout of ArieSeirack/DHVT')
    parser.add_argument(
        '--arch', nargs='+', default=['tiny-in1k-p16'],
        choices=sorted(OFFICIAL))
    parser.add_argument(
        '--sizes', nargs='+', type=int, default=None,
        help='square input sizes (default: 32 for CIFAR, 224 otherwise)')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--iters', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--threads', type=int, help='torch CPU threads')
    parser.add_argument('--device', default='cpu')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    official_module = import_official(args.official_repo)
    print(f'batch {args.batch}, {torch.get_num_threads()} threads, {device}, '
          f'torch {torch.__version__}')
    print(f'{"":<38} {"time":>12} {"throughput":>15} {"peak mem":>13}')
    for arch in args.arch:
        sizes = args.sizes or [32 if 'cifar' in arch else 224]
        for size in sizes:
            torch.manual_seed(0)
            official, ours = build_pair(official_module, arch, size)
            official.to(device).eval()
            ours.to(device).eval()
            x = torch.randn(args.batch, 3, size, size, device=device)
            with torch.no_grad():
                diff = (official(x) - ours(x)).abs().max().item()
            print(f'{arch} @ {size}x{size}: max |logit diff| {diff:.2e}')
            results = time_modules((('official', official), ('ours', ours)),
                                   x, device, args.warmup, args.iters,
                                   prefix='  ')
            for i, what in enumerate(('forward', 'forward+backward')):
                off, our = results['official'][i], results['ours'][i]
                speed = off['median_s'] / our['median_s']
                best = off['min_s'] / our['min_s']
                line = (f'  ours vs official {what}: speed x{speed:.2f} '
                        f'(median), x{best:.2f} (best)')
                if device.type == 'cuda':
                    line += (f'; peak memory '
                             f'x{our["peak_mib"] / off["peak_mib"]:.2f}')
                print(line)
            del official, ours


if __name__ == '__main__':
    main()
