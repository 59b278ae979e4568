"""Our HAT-Net backbone against the official one, on the same weights.

    python tools/analysis_tools/benchmark_hat_net.py \
        --official-repo /path/to/HAT-Net --arch tiny --sizes 224 512x512

The official ``HAT_Net.py`` is imported at run time from ``--official-repo``
(a checkout of https://github.com/yun-liu/HAT-Net); nothing of it is part of
this repository. It imports three helpers from timm; when timm is not
installed, small stand-ins are used (mmcv's ``DropPath`` and torch's
``trunc_normal_``), which only matter for training and init.

Both models get the official model's (random) weights, converted with
``vit_backbones.converters.hat_net``. Each runs its four stages (the
official modules are called in the order of its ``forward``, without the
classifier) and the script prints forward (no grad, eval) and
forward+backward (train) time per batch, throughput, peak memory, the
ratios ours/official and the largest output difference.

G1/G2: the official code only runs when every stage map divides by G1 and
G2. For each size the ImageNet setting ``(8, 7, 7, 1)``/``(8, 4, 2, 1)`` is
used when it divides (224), else the dense setting ``(8, 8, 8, 1)``/
``(16, 8, 4, 1)`` (512x512); sizes neither divides are run with the dense
setting for ours only.
"""
import argparse
import importlib
import os.path as osp
import sys
import types

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from vit_backbones.benchmark import time_modules  # noqa: E402
from vit_backbones.converters.common import backbone_state_dict  # noqa
from vit_backbones.converters.hat_net import convert  # noqa: E402
from vit_backbones.models.backbones.hat_net import HATNet  # noqa: E402

SETTINGS = dict(
    classification=((8, 7, 7, 1), (8, 4, 2, 1)),
    dense=((8, 8, 8, 1), (16, 8, 4, 1)))


def parse_size(text):
    if 'x' in text:
        h, w = text.split('x')
        return int(h), int(w)
    return int(text), int(text)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='HAT-Net: ours vs official, same weights')
    parser.add_argument(
        '--official-repo',
        required=True,
        help='checkout of github.com/yun-liu/HAT-Net (holds HAT_Net.py)')
    parser.add_argument(
        '--arch',
        nargs='+',
        default=['tiny'],
        choices=['tiny', 'small', 'medium', 'large'])
    parser.add_argument('--sizes', nargs='+', default=['224', '512x512'])
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--iters', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--threads', type=int, help='torch CPU threads')
    parser.add_argument('--device', default='cpu')
    return parser.parse_args(argv)


def _install_timm_stand_ins():
    """Minimal ``timm`` modules for the official file's imports."""
    from mmcv.cnn.bricks import DropPath

    def register_model(fn):
        return fn

    def _cfg(**kwargs):
        return dict(kwargs)

    modules = {
        'timm': {},
        'timm.models': {},
        'timm.models.layers': {
            'DropPath': DropPath,
            'trunc_normal_': nn.init.trunc_normal_
        },
        'timm.models.registry': {
            'register_model': register_model
        },
        'timm.models.vision_transformer': {
            '_cfg': _cfg
        },
    }
    for name, attrs in modules.items():
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        sys.modules[name] = module


def import_official(repo):
    if not osp.isfile(osp.join(repo, 'HAT_Net.py')):
        raise FileNotFoundError(f'No HAT_Net.py in {repo}')
    try:
        importlib.import_module('timm.models.layers')
    except ImportError:
        _install_timm_stand_ins()
    sys.path.insert(0, osp.abspath(repo))
    return importlib.import_module('HAT_Net')


class OfficialStages(nn.Module):
    """Runs the official model's stem, blocks and downsampling layers in
    the order of its ``forward`` and returns the four stage outputs."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        m = self.model
        outs = []
        x = m.patch_embed(x)
        for t in range(4):
            if t > 0:
                x = getattr(m, f'ds{t + 1}')(x)
            for block in m.blocks[t]:
                x = block(x)
            outs.append(x)
        return tuple(outs)


def choose_setting(h, w):
    for name, (grids, ratios) in SETTINGS.items():
        fits = True
        size_h, size_w = h, w
        for i in range(4):
            size_h, size_w = -(-size_h //
                               (4 if i == 0 else 2)), -(-size_w //
                                                        (4 if i == 0 else 2))
            for n in (grids[i], ratios[i]):
                if size_h % n or size_w % n:
                    fits = False
        if fits:
            return name, True
    return 'dense', False


def build_pair(official_module, arch, setting):
    grids, ratios = SETTINGS[setting]
    zoo = HATNet.arch_zoo[arch]
    official = official_module.HAT_Net(
        dims=list(zoo['embed_dims']),
        head_dim=zoo['head_dim'],
        expansions=list(zoo['mlp_ratios']),
        grid_sizes=list(grids),
        ds_ratios=list(ratios),
        depths=list(zoo['depths']),
        kernel_sizes=list(zoo['kernel_sizes']))
    ours = HATNet(
        arch=arch,
        grid_sizes=grids,
        ds_ratios=ratios,
        out_indices=(0, 1, 2, 3),
        init_cfg=None)
    ours.load_state_dict(
        backbone_state_dict(convert(official.state_dict(), arch=arch)))
    return OfficialStages(official), ours


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    official_module = import_official(args.official_repo)
    print(f'HAT-Net ours vs official, batch {args.batch}, '
          f'{torch.get_num_threads()} threads, {device}, '
          f'torch {torch.__version__}')
    print(f'{"":<38} {"time":>12} {"throughput":>15} {"peak mem":>13}')
    for arch in args.arch:
        for text in args.sizes:
            h, w = parse_size(text)
            setting, official_runs = choose_setting(h, w)
            official, ours = build_pair(official_module, arch, setting)
            official, ours = official.to(device), ours.to(device)
            x = torch.randn(args.batch, 3, h, w, device=device)
            tag = f'{arch} {h}x{w} ({setting} G1/G2)'
            print(tag)
            models = [('ours', ours)]
            if official_runs:
                models.append(('official', official))
            results = time_modules(models, x, device, args.warmup,
                                   args.iters, prefix='  ')
            if not official_runs:
                print('  official: cannot run at this size (stage maps not '
                      'divisible by G1/G2)')
                continue
            for i, label in enumerate(('forward', 'forward+backward')):
                a, b = results['ours'][i], results['official'][i]
                # CPU peaks are RSS growth during one call; below 1 MiB the
                # allocator served the call from cached memory and a ratio
                # means nothing.
                if min(a['peak_mib'], b['peak_mib']) >= 1.:
                    mem = f'{a["peak_mib"] / b["peak_mib"]:.2f}x'
                else:
                    mem = 'n/a (allocator cache)'
                print(f'  ratio ours/official {label:<17}: time '
                      f'{a["median_s"] / b["median_s"]:.2f}x, '
                      f'peak memory {mem}')
            ours.eval()
            official.eval()
            with torch.no_grad():
                diff = max((p - q).abs().max().item()
                           for p, q in zip(ours(x), official(x)))
            print(f'  max abs output difference: {diff:.2e}')


if __name__ == '__main__':
    main()
