"""ViL against the official sliding-chunk implementation, on the same weights.

Runs, in one process, the official ``Long2DSCSelfAttention`` / ``MsViT`` of
microsoft/vision-longformer (imported at run time from ``--official-repo``,
a checkout of that repository; it needs ``timm`` and ``einops``, add their
location with ``--pythonpath`` if they are not installed) and ours, with the
official weights converted by ``vit_backbones.converters.vil``, and prints
forward and forward+backward time, throughput, peak memory, the ratios and
the largest output difference::

    python tools/analysis_tools/benchmark_vil.py \\
        --official-repo /path/to/vision-longformer --pythonpath /path/to/timm

1. The local attention alone (one stage-1 layer of ``--arch``: window 7,
   one global token, relative position bias, ``SW_EXACT=0``) on the maps
   given by ``--attn-maps`` (default 56x56 and 200x304, the stage-1 map of a
   800x1216 COCO image).
2. The whole backbone in the detection layout (Longformer in all stages,
   global tokens 1, 1, 1, 0, relative position bias) at ``--images``
   (default 224x224 and 800x1216); all four stage maps are outputs.

The official code builds its masks with Python loops the first time it sees
a map size; the ``first call`` column shows that cost (ours builds its masks
with tensor ops). Timings on a busy machine are noisy; compare ratios.
"""
import argparse
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from vit_backbones.benchmark import (format_row,  # noqa: E402
                                     forward_backward_step, forward_step,
                                     measure)
from vit_backbones.converters.common import \
    backbone_state_dict  # noqa: E402
from vit_backbones.converters.vil import convert  # noqa: E402
from vit_backbones.models.backbones.vil import ViL, ViLAttention  # noqa

DET_LAYOUT = dict(s=1, g=(1, 1, 1, 0), f=7, a=0)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--official-repo', required=True,
                        help='checkout of microsoft/vision-longformer')
    parser.add_argument('--pythonpath', nargs='*', default=[],
                        help='extra import paths (e.g. where timm is)')
    parser.add_argument('--arch', default='tiny', help='ViL arch name')
    parser.add_argument('--attn-maps', nargs='+',
                        default=['56x56', '200x304'])
    parser.add_argument(
        '--images', nargs='+', default=['224x224', '800x1216'])
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--iters', type=int, default=3)
    parser.add_argument('--threads', type=int)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--skip', choices=['attention', 'backbone'])
    return parser.parse_args(argv)


def size(text):
    h, w = text.split('x')
    return int(h), int(w)


def official_arch(vil: ViL) -> str:
    """The official arch string of ``vil`` in the detection layout."""
    stages = []
    for i in range(vil.num_stages):
        stages.append(
            f'l{i + 1},h{vil.num_heads[i]},d{vil.embed_dims[i]},'
            f'n{vil.depths[i]},s{DET_LAYOUT["s"]},g{DET_LAYOUT["g"][i]},'
            f'p{vil.patch_sizes[i]},f{DET_LAYOUT["f"]},a{DET_LAYOUT["a"]}')
    return '_'.join(stages)


class OfficialPyramid(nn.Module):
    """The official MsViT returning its four stage maps (global tokens
    dropped), as its detectron2 backbone does."""

    def __init__(self, msvit):
        super().__init__()
        self.msvit = msvit
        self.layers = [msvit.layer1, msvit.layer2, msvit.layer3,
                       msvit.layer4]

    def forward(self, x):
        b, outs, nx, ny = x.shape[0], [], None, None
        for i, layer in enumerate(self.layers):
            # the classification MsViT asserts a fixed input size; the
            # detection layout has no size-dependent parameter
            patch = layer[0]
            patch.nx = x.shape[-2] // patch.patch_size[0]
            patch.ny = x.shape[-1] // patch.patch_size[1]
            x, nx, ny = layer((x, nx, ny))
            x = x[:, self.msvit.Nglos[i]:].transpose(-2, -1).reshape(
                b, -1, nx, ny)
            outs.append(x)
        return tuple(outs)


class AttentionStep(nn.Module):

    def __init__(self, attn, hw, official):
        super().__init__()
        self.attn, self.hw, self.official = attn, hw, official

    def forward(self, x):
        return self.attn(x, *self.hw) if self.official else self.attn(
            x, self.hw)


def first_call(module, x):
    start = time.perf_counter()
    with torch.no_grad():
        module(x)
    return time.perf_counter() - start


def compare(name, theirs, ours, x, args, device):
    rows = []
    for label, module in (('official', theirs), ('ours', ours)):
        module.eval()
        t0 = first_call(module, x)
        fwd = measure(forward_step(module, x), device, args.warmup,
                      args.iters)
        module.train()
        x_grad = x.clone().requires_grad_(x.is_floating_point())
        fwd_bwd = measure(forward_backward_step(module, x_grad), device,
                          args.warmup, args.iters)
        rows.append((label, t0, fwd, fwd_bwd))
        print(f'  first call ({label}): {t0 * 1e3:.1f} ms', flush=True)
        print('  ' + format_row(f'{name} {label} forward', x.shape[0], fwd))
        print('  ' + format_row(f'{name} {label} forward+backward',
                                x.shape[0], fwd_bwd), flush=True)
    theirs.eval()
    ours.eval()
    with torch.no_grad():
        a, b = theirs(x), ours(x)
    a = a if isinstance(a, tuple) else (a, )
    b = b if isinstance(b, tuple) else (b, )
    diff = max((u - v).abs().max().item() for u, v in zip(a, b))
    (_, _, f0, b0), (_, _, f1, b1) = rows
    print(f'  speed-up ours/official: forward '
          f'{f0["median_s"] / f1["median_s"]:.2f}x, forward+backward '
          f'{b0["median_s"] / b1["median_s"]:.2f}x; peak memory '
          f'official/ours: forward {f0["peak_mib"]:.0f}/'
          f'{f1["peak_mib"]:.0f} MiB, forward+backward '
          f'{b0["peak_mib"]:.0f}/{b1["peak_mib"]:.0f} MiB; '
          f'max abs diff {diff:.2e}', flush=True)


def main(argv=None):
    args = parse_args(argv)
    for path in reversed(args.pythonpath):
        sys.path.insert(0, path)
    sys.path.insert(0, osp.join(args.official_repo, 'src'))
    from models.layers.longformer2d import Long2DSCSelfAttention
    from models.msvit import MsViT
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    ref = ViL(args.arch)
    print(f'ViL-{args.arch}, batch {args.batch}, '
          f'{torch.get_num_threads()} threads, {device}')

    if args.skip != 'attention':
        dim, heads = ref.embed_dims[0], ref.num_heads[0]
        print(f'Local attention, stage 1 of ViL-{args.arch} (dim {dim}, '
              f'{heads} heads, window 7, 1 global token, RPB)')
        theirs = Long2DSCSelfAttention(
            dim, num_heads=heads, qkv_bias=True, w=7, nglo=1, sharew=True,
            rpe=True, exact=0)
        with torch.no_grad():
            for p in theirs.parameters():
                p.normal_(0, 0.1)
        ours = ViLAttention(dim, heads, num_global_tokens=1, window_size=7)
        ours.load_state_dict({
            k: v for k, v in theirs.state_dict().items()
            if '_global' not in k and k != 'relative_position_index'
        })
        for text in args.attn_maps:
            hw = size(text)
            x = torch.randn(args.batch, 1 + hw[0] * hw[1], dim,
                            device=device)
            compare(f'{text}',
                    AttentionStep(theirs, hw, True).to(device),
                    AttentionStep(ours, hw, False).to(device), x, args,
                    device)

    if args.skip != 'backbone':
        arch = official_arch(ref)
        print(f'Backbone ViL-{args.arch}, detection layout: {arch}')
        msvit = MsViT(arch, img_size=224, num_classes=1000, norm_embed=True,
                      sharew=True, attn_type='longformerhand',
                      drop_path_rate=0.)
        backbone = backbone_state_dict(
            convert({'net': msvit.state_dict()}, validate=False))
        ours = ViL(arch, out_indices=(0, 1, 2, 3), out_norm_cfg=None,
                   drop_path_rate=0.)
        ours.load_state_dict(
            {k: v for k, v in backbone.items() if not k.startswith('norm')})
        for text in args.images:
            hw = size(text)
            x = torch.randn(args.batch, 3, *hw, device=device)
            compare(f'{text}', OfficialPyramid(msvit).to(device),
                    ours.to(device), x, args, device)


if __name__ == '__main__':
    main()
