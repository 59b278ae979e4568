"""Benchmark our HVT against the official implementation on the same weights.

The official ``models.py`` is imported at run time from a checkout of
https://github.com/MonashAI/HVT (nothing of it is part of this repository);
it needs timm (0.3.2 officially; 0.4.12 works with recent torch)::

    pip install --no-deps --target /tmp/hvt_deps timm==0.4.12
    git clone https://github.com/MonashAI/HVT /tmp/HVT
    python tools/analysis_tools/benchmark_hvt.py --official-repo /tmp/HVT \
        --timm-path /tmp/hvt_deps --arch s-1 --sizes 224 --batch 8

For each size, both models are built for that input size (the official one
only accepts the size it was built for), the official random weights are
converted with :mod:`vit_backbones.converters.hvt` and loaded into ours, the
outputs (the mean token after the final norm, i.e. the classifier input) are
compared, then forward and forward+backward time and peak memory are
measured with :mod:`vit_backbones.benchmark`.

HVT-S-0 cannot be built by the official code (block 0 always pools); for
``--arch s-0`` the pool of block 0 is removed from an official instance.
"""
import argparse
import importlib.util
import os.path as osp
import sys
import types
from functools import partial

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from vit_backbones.benchmark import time_modules  # noqa: E402
from vit_backbones.converters.common import \
    backbone_state_dict  # noqa: E402
from vit_backbones.converters.hvt import convert  # noqa: E402
from vit_backbones.models.backbones import HVT  # noqa: E402

# Official settings (config/*.json) of the released variants.
RELEASES = {
    'ti-1': dict(embed_dim=192, num_heads=3, pool_block_width=12),
    's-0': dict(embed_dim=384, num_heads=6, pool_block_width=None),
    's-1': dict(embed_dim=384, num_heads=6, pool_block_width=12),
    's-2': dict(embed_dim=384, num_heads=6, pool_block_width=6),
    's-3': dict(embed_dim=384, num_heads=6, pool_block_width=4),
    's-4': dict(embed_dim=384, num_heads=6, pool_block_width=3),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='HVT: ours vs the official implementation')
    parser.add_argument(
        '--official-repo', required=True, help='checkout of MonashAI/HVT')
    parser.add_argument(
        '--timm-path', help='folder to put on sys.path for timm')
    parser.add_argument('--arch', default='s-1', choices=sorted(RELEASES))
    parser.add_argument(
        '--sizes', nargs='+', type=int, default=[224], help='square sizes')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--iters', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--threads', type=int, help='torch CPU threads')
    parser.add_argument('--device', default='cpu')
    return parser.parse_args(argv)


def import_official(repo, timm_path=None):
    """Import the official ``models.py`` with a stand-in for its ``params``
    module (which parses ``sys.argv`` at import time)."""
    if timm_path:
        sys.path.insert(0, timm_path)
    try:
        import timm  # noqa: F401
    except ImportError as e:
        raise SystemExit('The official HVT code needs timm: pip install '
                         '--no-deps timm==0.4.12 and pass --timm-path.') from e
    params = types.ModuleType('params')
    params.args = argparse.Namespace(pool_block_width=12, pool_kernel_size=3)
    sys.modules['params'] = params
    spec = importlib.util.spec_from_file_location(
        'hvt_official_models', osp.join(repo, 'models.py'))
    module = importlib.util.module_from_spec(spec)
    # timm's register_model looks the module up in sys.modules.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module, params.args


def build_official(official, args, arch, size):
    setting = RELEASES[arch]
    width = setting['pool_block_width']
    args.pool_block_width = width or 12
    model = official.HVT(
        img_size=size,
        patch_size=16,
        embed_dim=setting['embed_dim'],
        depth=12,
        num_heads=setting['num_heads'],
        mlp_ratio=4,
        qkv_bias=True,
        norm_layer=partial(nn.LayerNorm, eps=1e-6),
        drop_path_rate=0.1)
    if width is None:
        model.blocks[0].downsample = None
        del model.blocks[0].pos_embed
    return model


class OfficialFeatures(nn.Module):
    """The official classifier input (final norm, token mean), as a tuple
    like our backbone's output."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return (self.model.forward_features(x), )


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    official, official_args = import_official(args.official_repo,
                                              args.timm_path)
    print(f'HVT-{args.arch.upper()}, batch {args.batch}, '
          f'{torch.get_num_threads()} threads, {device}')
    for size in args.sizes:
        torch.manual_seed(0)
        theirs = build_official(official, official_args, args.arch, size)
        ours = HVT(arch=args.arch, img_size=size, drop_path_rate=0.1)
        ours.load_state_dict(backbone_state_dict(
            convert({'model': theirs.state_dict()}, arch=args.arch,
                    img_size=size)))
        theirs = OfficialFeatures(theirs).to(device)
        ours = ours.to(device)
        x = torch.randn(args.batch, 3, size, size, device=device)
        theirs.eval(), ours.eval()
        with torch.no_grad():
            diff = (theirs(x)[0] - ours(x)[0]).abs().max().item()
        print(f'{size}x{size}: max abs diff of the outputs {diff:.2e}')
        results = time_modules((('official', theirs), ('ours', ours)), x,
                               device, args.warmup, args.iters,
                               prefix=f'{size} ')
        for i, what in enumerate(('forward', 'forward+backward')):
            o, t = results['ours'][i], results['official'][i]
            time_ratio = o['median_s'] / t['median_s']
            # CPU peaks are RSS growth, often 0 once the allocator caches.
            mem_ratio = (f'x{o["peak_mib"] / t["peak_mib"]:.2f}'
                         if t['peak_mib'] > 0 else 'n/a')
            print(f'ours/official {what}: time x{time_ratio:.2f}, '
                  f'peak memory {mem_ratio}')


if __name__ == '__main__':
    main()
