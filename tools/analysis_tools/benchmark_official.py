"""Our backbones against their official implementations, and beside stock
OpenMMLab backbones, each measurement in its own process.

Against the official code, on the same weights::

    python tools/analysis_tools/benchmark_official.py hat_net \\
        --official-repo /path/to/HAT-Net --arch tiny small \\
        --sizes 224 512x512 800x1216
    python tools/analysis_tools/benchmark_official.py vil \\
        --official-repo /path/to/vision-longformer --compile --profile

Beside Swin-T (mmpretrain) and PVTv2-b1/b2 (mmdet), each of our networks in
the layout of its RetinaNet config::

    python tools/analysis_tools/benchmark_official.py zoo --sizes 800x1216

The official code is imported at run time from ``--official-repo`` (a
checkout of yun-liu/HAT-Net, microsoft/vision-longformer, zhuang-group/HVT
or ArieSeirack/DHVT); nothing of it is part of this repository. The helpers
it imports from old timm releases are replaced by small stand-ins
(``official_stand_ins.py`` beside this file says which), so the installed
timm, if any, does not matter. The official model is built with its own
(random) init, seeded, and its weights are converted into ours with
``vit_backbones.converters``; the largest output difference is printed.

Every figure comes from a fresh process, one per side and kind:
* time: the median of ``--iters`` calls after ``--warmup`` calls (with
  ``--repeat N``, the median over N processes per side, the sides
  alternating), of a
  no-grad forward in eval mode and of a forward + backward of the sum of the
  outputs in train mode (``--compile`` adds ``torch.compile`` of ours, after
  a first call that compiles; ``--profile`` adds a ``torch.profiler`` split);
* memory: the peak of one forward + backward (after one unmeasured call),
  as resident-set growth sampled every millisecond in a process whose glibc
  returns every block above 64 KiB on free (``CPU_MEMORY_ENV``), or
  ``torch.cuda.max_memory_allocated`` on GPU.

The table gives ratios official / ours (above 1: ours is faster) and peak
memory ours / official (below 1: ours needs less), the multiply-accumulates
of one forward (mmengine's counter), and the physical limit: 2 x MACs over
the measured matmul rate of the machine, in float32 or the ``--amp``
dtype (x3 for forward + backward); the share of profiled time in matmuls,
convolutions and fused attention says how much of the rest is arithmetic
at all, and the official time over ours in those kernels alone is the best
ratio possible (with ``--compile``, for the compiled code too).

Default sizes: 224 and 512x512 (800x1216 for ViL and HAT-Net, whose
detection layouts are timed; 32 for DHVT's CIFAR models); batch 8 at 256
pixels and below, else 1.
"""
import argparse
import ast
import contextlib
import gc
import importlib
import importlib.util
import io
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import tempfile

import torch
import torch.nn as nn

from vit_backbones.converters.common import backbone_state_dict  # noqa
from vit_backbones.checkpoint.files import load_checkpoint_file
from vit_backbones.tools.benchmark import (AMP_DTYPES, CPU_MEMORY_ENV,
                                           forward_backward_step, forward_step,
                                           matmul_rate, measure, peak_memory,
                                           profile_step)
from vit_backbones.tools.runtime import ALLOCATOR_ENV, KEEP_FREED_MEMORY_ENV

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def import_file(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# What the official files import but this tool does not have or want
# (old timm helpers, HVT's argv-parsing params module, torchprofile).
stand_ins = import_file(
    'official_stand_ins',
    osp.join(osp.dirname(osp.abspath(__file__)), 'official_stand_ins.py'))


# --------------------------------------------------------------------------
# The four networks: how to import, build and wrap the official model, and
# how to build ours from its weights. Each wrapper returns a tuple of the
# outputs both sides compute.


class OfficialHATNet(nn.Module):
    """The official stem, blocks and down-sampling layers in the order of
    its ``forward``, returning the four stage maps."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        m, outs = self.model, []
        x = m.patch_embed(x)
        for t in range(4):
            if t > 0:
                x = getattr(m, f'ds{t + 1}')(x)
            for block in m.blocks[t]:
                x = block(x)
            outs.append(x)
        return tuple(outs)


class HATNetPair:
    archs = ('tiny', 'small')
    sizes = ('224', '800x1216')
    # (G1 per stage, G2 per stage) of the ImageNet and the dense configs
    classification = ((8, 7, 7, 1), (8, 4, 2, 1))
    dense = ((8, 8, 8, 1), (16, 8, 4, 1))

    def import_official(self, repo):
        return import_file('HAT_Net', osp.join(repo, 'HAT_Net.py'))

    def setting(self, arch, h, w):
        """G1/G2 the official code can run at ``h x w``: the ImageNet
        setting where it divides every stage map (224), else per stage the
        largest values up to the dense setting's that divide it (it has no
        padding)."""
        maps = []
        for i in range(4):
            h, w = -(-h // (4 if i == 0 else 2)), -(-w // (4 if i == 0 else 2))
            maps.append((h, w))
        for grids, ratios in (self.classification, self.dense):
            if all(h % n == 0 and w % n == 0 for (h, w), g, r in zip(
                    maps, grids, ratios) for n in (g, r)):
                return grids, ratios

        def fit(limit, h, w):
            return max(n for n in range(1, limit + 1)
                       if h % n == 0 and w % n == 0)

        return tuple(
            tuple(fit(limit, h, w) for limit, (h, w) in zip(limits, maps))
            for limits in self.dense)

    def build(self, official_module, arch, h, w):
        from vit_backbones.converters.hat_net import convert
        from vit_backbones.models.backbones.hat_net import HATNet
        grids, ratios = self.setting(arch, h, w)
        zoo = HATNet.arch_zoo[arch]
        official = official_module.HAT_Net(
            dims=list(zoo['embed_dims']), head_dim=zoo['head_dim'],
            expansions=list(zoo['mlp_ratios']), grid_sizes=list(grids),
            ds_ratios=list(ratios), depths=list(zoo['depths']),
            kernel_sizes=list(zoo['kernel_sizes']))

        def ours():
            model = HATNet(arch=arch, grid_sizes=grids, ds_ratios=ratios,
                           out_indices=(0, 1, 2, 3), init_cfg=None)
            model.load_state_dict(backbone_state_dict(
                convert(official.state_dict(), arch=arch)))
            return model

        return OfficialHATNet(official), ours, f'G1 {grids}, G2 {ratios}'


class OfficialViL(nn.Module):
    """The official MsViT returning its four stage maps (global tokens
    dropped), as its detectron2 backbone does."""

    def __init__(self, msvit):
        super().__init__()
        self.msvit = msvit

    def forward(self, x):
        m = self.msvit
        b, outs, nx, ny = x.shape[0], [], None, None
        for i, layer in enumerate((m.layer1, m.layer2, m.layer3, m.layer4)):
            # the classification MsViT asserts its build size; the
            # detection layout has no size-dependent parameter
            patch = layer[0]
            patch.nx = x.shape[-2] // patch.patch_size[0]
            patch.ny = x.shape[-1] // patch.patch_size[1]
            x, nx, ny = layer((x, nx, ny))
            x = x[:, m.Nglos[i]:].transpose(-2, -1).reshape(b, -1, nx, ny)
            outs.append(x)
        return tuple(outs)


class ViLPair:
    archs = ('tiny', 'small')
    sizes = ('224', '800x1216')
    # Longformer in every stage, global tokens 1, 1, 1, 0, relative
    # position bias: the detection layout of the official detectron2 code
    layout = dict(s=1, g=(1, 1, 1, 0), f=7, a=0)

    def import_official(self, repo):
        sys.path.insert(0, osp.join(repo, 'src'))
        return importlib.import_module('models.msvit')

    def official_arch(self, arch):
        from vit_backbones.models.backbones.vil import ViL
        ref, lay = ViL(arch), self.layout
        return '_'.join(
            f'l{i + 1},h{ref.num_heads[i]},d{ref.embed_dims[i]},'
            f'n{ref.depths[i]},s{lay["s"]},g{lay["g"][i]},'
            f'p{ref.patch_sizes[i]},f{lay["f"]},a{lay["a"]}'
            for i in range(ref.num_stages))

    def build(self, official_module, arch, h, w):
        from vit_backbones.converters.vil import convert
        from vit_backbones.models.backbones.vil import ViL
        arch_string = self.official_arch(arch)
        official = official_module.MsViT(
            arch_string, img_size=224, num_classes=1000, norm_embed=True,
            sharew=True, attn_type='longformerhand', drop_path_rate=0.)

        def ours():
            model = ViL(arch_string, out_indices=(0, 1, 2, 3),
                        out_norm_cfg=None, drop_path_rate=0.)
            state = backbone_state_dict(
                convert({'net': official.state_dict()}, validate=False))
            model.load_state_dict(
                {k: v for k, v in state.items() if not k.startswith('norm')})
            return model

        return OfficialViL(official), ours, 'detection layout'


class OfficialHVT(nn.Module):
    """The official classifier input (final norm, token mean)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return (self.model.forward_features(x), )


class HVTPair:
    archs = ('ti-1', 's-1')
    sizes = ('224', '512x512')
    releases = {
        'ti-1': dict(embed_dim=192, num_heads=3, pool_block_width=12),
        's-1': dict(embed_dim=384, num_heads=6, pool_block_width=12),
        's-2': dict(embed_dim=384, num_heads=6, pool_block_width=6),
        's-3': dict(embed_dim=384, num_heads=6, pool_block_width=4),
        's-4': dict(embed_dim=384, num_heads=6, pool_block_width=3),
    }

    def import_official(self, repo):
        # models.py reads its pooling settings from a module that parses
        # sys.argv at import; give it a namespace instead.
        stand_ins.install_hvt_params()
        return import_file('hvt_official_models', osp.join(repo, 'models.py'))

    def build(self, official_module, arch, h, w):
        from functools import partial

        from vit_backbones.converters.hvt import convert
        from vit_backbones.models.backbones import HVT
        if h != w:
            raise ValueError('the official HVT takes square inputs only')
        if arch not in self.releases:
            raise ValueError(f'HVT arch must be one of '
                             f'{sorted(self.releases)}, not {arch!r}')
        setting = self.releases[arch]
        sys.modules['params'].args.pool_block_width = setting[
            'pool_block_width']
        official = official_module.HVT(
            img_size=h, patch_size=16, embed_dim=setting['embed_dim'],
            depth=12, num_heads=setting['num_heads'], mlp_ratio=4,
            qkv_bias=True, norm_layer=partial(nn.LayerNorm, eps=1e-6),
            drop_path_rate=0.1)

        def ours():
            model = HVT(arch=arch, img_size=h, drop_path_rate=0.1)
            model.load_state_dict(backbone_state_dict(convert(
                {'model': official.state_dict()}, arch=arch, img_size=h)))
            return model

        return OfficialHVT(official), ours, 'classifier features'


class DHVTClassifier(nn.Module):
    """Our backbone with the official model's linear head."""

    def __init__(self, backbone, num_classes):
        super().__init__()
        self.backbone = backbone
        self.fc = nn.Linear(backbone.embed_dims, num_classes)

    def forward(self, x):
        return self.fc(self.backbone(x)[-1])


class DHVTPair:
    archs = ('tiny-in1k-p16', 'small-in1k-p16', 'tiny-cifar-p4')
    sizes = ('224', '512x512')
    official_fns = {
        'tiny-cifar-p4': ('dhvt_tiny_cifar_patch4', 100),
        'small-cifar-p4': ('dhvt_small_cifar_patch4', 100),
        'tiny-cifar-p2': ('dhvt_tiny_cifar_patch2', 100),
        'small-cifar-p2': ('dhvt_small_cifar_patch2', 100),
        'tiny-in1k-p16': ('dhvt_tiny_imagenet_patch16', 1000),
        'small-in1k-p16': ('dhvt_small_imagenet_patch16', 1000),
    }

    def import_official(self, repo):
        sys.path.insert(0, osp.abspath(repo))
        stand_ins.install_torchprofile()
        return importlib.import_module('vision_transformer')

    def build(self, official_module, arch, h, w):
        from vit_backbones.converters.dhvt import convert
        from vit_backbones.models.backbones.dhvt import DHVT
        if h != w:
            raise ValueError('the official DAFF takes square grids only')
        if arch not in self.official_fns:
            raise ValueError(f'DHVT arch must be one of '
                             f'{sorted(self.official_fns)}, not {arch!r}')
        fn, num_classes = self.official_fns[arch]
        with contextlib.redirect_stdout(io.StringIO()):  # it prints itself
            official = getattr(official_module, fn)(
                num_classes=num_classes, img_size=(h, w))

        def ours():
            state = convert({'model': official.state_dict()}, arch=arch)
            model = DHVTClassifier(DHVT(arch), num_classes)
            model.backbone.load_state_dict(backbone_state_dict(state))
            model.fc.load_state_dict({'weight': state['head.fc.weight'],
                                      'bias': state['head.fc.bias']})
            return model

        return official, ours, 'classifier logits'


PAIRS = dict(hat_net=HATNetPair, vil=ViLPair, hvt=HVTPair, dhvt=DHVTPair)

# Backbones of the zoo table: ours in the layout of each RetinaNet config,
# and stock backbones of the installed toolboxes.
ZOO = {
    'HAT-Net-T': 'configs/hat_net/retinanet_hat-net-tiny_fpn_1x_coco.py',
    'HAT-Net-S': 'configs/hat_net/retinanet_hat-net-small_fpn_1x_coco.py',
    'ViL-T': 'configs/vil/retinanet_vil-tiny_fpn_1x_coco.py',
    'ViL-S': 'configs/vil/retinanet_vil-small_fpn_1x_coco.py',
    'HVT-S-2 2-D': 'configs/hvt/retinanet_hvt-s-2-2d_fpn_1x_coco.py',
    'DHVT-T': 'configs/dhvt/retinanet_dhvt-tiny-p16_fpn_1x_coco.py',
    'Swin-T (mmpretrain)': dict(
        type='mmpretrain.SwinTransformer', arch='tiny',
        out_indices=(0, 1, 2, 3)),
    'PVTv2-b1 (mmdet)': dict(
        type='mmdet.PyramidVisionTransformerV2', embed_dims=64,
        num_layers=[2, 2, 2, 2]),
    'PVTv2-b2 (mmdet)': dict(
        type='mmdet.PyramidVisionTransformerV2', embed_dims=64,
        num_layers=[3, 4, 6, 3]),
}

# --------------------------------------------------------------------------
# Worker: one process, one side, one kind of measurement.


def build_zoo_backbone(entry):
    import mmdet.models  # noqa: F401  (registers PVTv2)
    import mmpretrain.models  # noqa: F401
    from mmengine.config import Config
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import MODELS

    import vit_backbones.models  # noqa: F401
    if isinstance(entry, str):
        cfg = Config.fromfile(osp.join(REPO_ROOT, entry)).model.backbone
        cfg.pop('init_cfg', None)  # no checkpoint download
        type_ = cfg['type']
        if isinstance(type_, str) and '.' not in type_:
            cfg['type'] = f'mmpretrain.{type_}'
    else:
        cfg = dict(entry)
    torch.manual_seed(0)
    model = revert_sync_batchnorm(MODELS.build(cfg))
    model.init_weights()
    return model


def build_side(job):
    """The module of ``job['side']`` and a note on the setting."""
    torch.manual_seed(0)
    if job['net'] == 'zoo':
        return build_zoo_backbone(ZOO[job['arch']]), ''
    pair = PAIRS[job['net']]()
    stand_ins.install_timm()
    official_module = pair.import_official(job['repo'])
    h, w = job['size']
    official, ours, note = pair.build(official_module, job['arch'], h, w)
    # Both processes build both models and drop one: the same imports, the
    # same allocations before the measurement (importing and building ours
    # alone made a process a few per cent slower for either model).
    ours = ours()
    model = ours if job['side'] == 'ours' else official
    del official, ours
    gc.collect()
    return model, note


def run_worker(job):
    if job['threads']:
        torch.set_num_threads(job['threads'])
    device = torch.device(job['device'])
    model, note = build_side(job)
    model = model.to(device)
    h, w = job['size']
    torch.manual_seed(1)
    x = torch.randn(job['batch'], 3, h, w, device=device)
    amp = job['amp']
    result = dict(note=note, threads=torch.get_num_threads(),
                  params=sum(p.numel() for p in model.parameters()))
    if job['kind'] == 'memory':
        model.train()
        step = forward_backward_step(model, x, amp)
        step()  # lazy caches (masks, tables) are built on both sides
        result['train_peak_mib'] = peak_memory(step, device)
        model.eval()
        step = forward_step(model, x, amp)
        step()
        result['eval_peak_mib'] = peak_memory(step, device)
        return result

    model.eval()
    with torch.no_grad():
        outs = model(x)
    outs = outs if isinstance(outs, (tuple, list)) else (outs, )
    torch.save([o.float().cpu() for o in outs], job['outputs'])
    if job['side'] != 'official' and not job['skip_flops']:
        from vit_backbones.tools.complexity import count_flops
        try:
            result['macs'] = count_flops(model, x[:1]) * job['batch']
        except Exception as e:  # the counter traces; report, go on
            result['macs_error'] = f'{type(e).__name__}: {e}'
    warmup, iters = job['warmup'], job['iters']
    result['forward'] = measure(
        forward_step(model, x, amp), device, warmup, iters, memory=False)
    model.train()
    result['train'] = measure(
        forward_backward_step(model, x, amp), device, warmup, iters,
        memory=False)
    if job['profile']:
        model.eval()
        result['forward_profile'] = profile_step(
            forward_step(model, x, amp), device)
        model.train()
        result['train_profile'] = profile_step(
            forward_backward_step(model, x, amp), device)
    if job['compile'] and job['side'] != 'official':
        import time
        compiled = torch.compile(model, options=job['compile_options'])
        for mode, make in (('forward', forward_step),
                           ('train', forward_backward_step)):
            model.train(mode == 'train')
            step = make(compiled, x, amp)
            start = time.perf_counter()
            step()  # compiles
            result[f'compile_{mode}_s'] = time.perf_counter() - start
            result[f'compiled_{mode}'] = measure(step, device, warmup, iters,
                                                 memory=False)
            if job['profile']:
                result[f'compiled_{mode}_profile'] = profile_step(
                    step, device)
    return result


ALLOCATORS = {
    'default': "glibc's defaults (every block above 128 KiB mapped afresh)",
    'kept': 'glibc keeping freed memory (' + ' '.join(
        f'{k}={v}' for k, v in KEEP_FREED_MEMORY_ENV.items()) + ')',
}


def allocator_env(allocator):
    """The environment of a worker: glibc's defaults, or glibc keeping
    freed memory as jemalloc/tcmalloc would (and as the tools do with
    VIT_BACKBONES_MALLOC=keep)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith('MALLOC_') and k.endswith('_'))
    }
    env[ALLOCATOR_ENV] = 'default'  # the worker itself changes nothing
    if allocator == 'kept':
        env.update(KEEP_FREED_MEMORY_ENV)
    return env


def spawn(job, kind):
    """Run one measurement in a fresh process and return its result."""
    job = dict(job, kind=kind)
    env = allocator_env(job.get('allocator', 'kept'))
    if kind == 'memory' and job['device'] == 'cpu':
        env.update(CPU_MEMORY_ENV)
    with tempfile.TemporaryDirectory() as tmp:
        job['result'] = osp.join(tmp, 'result.json')
        job['outputs'] = osp.join(tmp, 'outputs.pt')
        proc = subprocess.run(
            [sys.executable, osp.abspath(__file__), '--worker',
             json.dumps(job)], env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f'{job["side"]} {kind} worker failed:\n'
                               f'{proc.stdout[-4000:]}')
        with open(job['result']) as f:
            result = json.load(f)
        if kind == 'time':
            result['outputs'] = load_checkpoint_file(job['outputs'])
    return result


# --------------------------------------------------------------------------
# Parent: the table.


def parse_size(text):
    if 'x' in text:
        h, w = text.split('x')
        return int(h), int(w)
    return int(text), int(text)


def combine(runs):
    """One result from the time runs of a side: per timing, the median of
    the runs' medians (the rest from the first run)."""
    result = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, dict) and 'median_s' in value:
            result[key] = dict(
                median_s=statistics.median(r[key]['median_s'] for r in runs),
                min_s=min(r[key]['min_s'] for r in runs))
    return result


def ms(result, key):
    return result[key]['median_s'] * 1e3


def describe_profile(label, profile, median_ms):
    top = ', '.join(f'{op.replace("aten::", "")} {share:.0%}'
                    for op, share in profile['top'][:5])
    return (f'    {label}: {profile["arithmetic"]:.0%} of the time in '
            f'matmul/conv/fused attention ('
            f'{profile["arithmetic"] * median_ms:.0f} ms); largest other '
            f'ops: {top}')


def run_pair(args, arch, size, rate):
    h, w = size
    batch = args.batch or (8 if max(h, w) <= 256 else 1)
    job = dict(net=args.network, repo=args.official_repo, arch=arch,
               size=size, batch=batch, threads=args.threads,
               device=args.device, amp=args.amp, warmup=args.warmup,
               iters=args.iters, profile=args.profile,
               compile=args.compile, compile_options=args.compile_options,
               skip_flops=args.skip_flops)
    sides = ('ours', ) if args.network == 'zoo' else ('official', 'ours')
    runs = {(a, side): [] for a in args.allocators for side in sides}
    for _ in range(args.repeat):
        # the sides (and allocators) alternate, so that a slow spell of a
        # shared machine does not fall on one of them only
        for allocator in args.allocators:
            for side in sides:
                runs[allocator, side].append(
                    spawn(dict(job, side=side, allocator=allocator), 'time'))
    by_allocator = {
        a: {side: combine(runs[a, side])
            for side in sides}
        for a in args.allocators
    }
    # The figures below are those under the last allocator listed (kept
    # memory, the compute ratio, unless --allocator default).
    res = by_allocator[args.allocators[-1]]
    if not args.skip_memory:
        for side in sides:
            res[side].update(spawn(dict(job, side=side), 'memory'))
    ours = res['ours']
    label = f'{arch} {h}x{w} batch {batch}'
    print(f'{label} ({ours["note"]}), ours {ours["params"] / 1e6:.2f} M '
          f'params', flush=True)
    for allocator in args.allocators:
        print(f'  allocator: {ALLOCATORS[allocator]}')
        for side in sides:
            r = by_allocator[allocator][side]
            mem = ('' if args.skip_memory or allocator != args.allocators[-1]
                   else f', peak {r["train_peak_mib"]:.0f} MiB '
                   f'forward+backward / {r["eval_peak_mib"]:.0f} MiB forward')
            print(f'    {side:<8}: forward {ms(r, "forward"):.1f} ms, '
                  f'forward+backward {ms(r, "train"):.1f} ms{mem}')
        if 'official' in sides:
            off, our = (by_allocator[allocator][s] for s in sides)
            print(f'    official/ours: forward '
                  f'{ms(off, "forward") / ms(our, "forward"):.2f}x, '
                  f'forward+backward '
                  f'{ms(off, "train") / ms(our, "train"):.2f}x')
    row = dict(label=label, fwd=ms(ours, 'forward'), train=ms(ours, 'train'),
               params=ours['params'], peak=ours.get('train_peak_mib'))
    if 'official' in sides:
        row['ratios'] = {
            a: (ms(r['official'], 'forward') / ms(r['ours'], 'forward'),
                ms(r['official'], 'train') / ms(r['ours'], 'train'))
            for a, r in by_allocator.items()
        }
    if 'official' in res:
        off = res['official']
        diff = max((a - b).abs().max().item()
                   for a, b in zip(off['outputs'], ours['outputs']))
        row['diff'] = diff
        if not args.skip_memory:
            row['mem_ratio'] = (ours['train_peak_mib'] /
                                max(off['train_peak_mib'], 1e-9))
        # (the time ratios are printed per allocator above)
        print(f'  peak memory ours/official '
              f'{row.get("mem_ratio", float("nan")):.2f}; '
              f'max abs output difference {diff:.1e}')
    if 'macs' in ours:
        row['macs'] = ours['macs']
        limit = 2 * ours['macs'] / rate * 1e3
        print(f'  {ours["macs"] / batch / 1e9:.2f} GMACs per image; limit at '
              f'the matmul rate: forward {limit:.1f} ms, forward+backward '
              f'{3 * limit:.1f} ms (ours is {row["fwd"] / limit:.1f}x / '
              f'{row["train"] / (3 * limit):.1f}x that)')
    elif 'macs_error' in ours:
        print(f'  MACs not counted: {ours["macs_error"]}')
    if args.compile and 'compiled_forward' in ours:
        base = res.get('official', ours)
        row['compiled_fwd_ratio'] = ms(base, 'forward') / ms(
            ours, 'compiled_forward')
        row['compiled_train_ratio'] = ms(base, 'train') / ms(
            ours, 'compiled_train')
        print(f'  compiled ours: forward {ms(ours, "compiled_forward"):.1f} '
              f'ms, forward+backward {ms(ours, "compiled_train"):.1f} ms '
              f'(compiling {ours["compile_forward_s"]:.0f} s + '
              f'{ours["compile_train_s"]:.0f} s); '
              f'{"official eager" if "official" in res else "eager"}/'
              f'compiled: {row["compiled_fwd_ratio"]:.2f}x / '
              f'{row["compiled_train_ratio"]:.2f}x')
    if args.profile:
        for side in sides:
            r = res[side]
            for key, mode in (('forward', 'forward'),
                              ('train', 'forward+backward')):
                print(describe_profile(f'{side} {mode}',
                                       r[f'{key}_profile'], ms(r, key)))
        compiled = args.compile and 'compiled_forward_profile' in ours
        if compiled:
            for key, mode in (('forward', 'forward'),
                              ('train', 'forward+backward')):
                print(describe_profile(
                    f'ours compiled {mode}', ours[f'compiled_{key}_profile'],
                    ms(ours, f'compiled_{key}')))
        if 'official' in res:
            # the bound: official eager time over the time ours spends in
            # the kernels both sides share (inductor fuses everything else)
            for prefix in ('', 'compiled_') if compiled else ('', ):
                for key, mode in (('forward', 'forward'),
                                  ('train', 'forward+backward')):
                    arithmetic = ours[f'{prefix}{key}_profile'][
                        'arithmetic'] * ms(ours, f'{prefix}{key}')
                    print(f'    best ratio if all but matmul/conv/attention '
                          f'of ours{" compiled" if prefix else ""} took no '
                          f'time, {mode}: '
                          f'{ms(res["official"], key) / arithmetic:.2f}x')
    return row


def print_table(args, rows):
    print()
    if args.network == 'zoo':
        print('| backbone, input | params (M) | GMACs | forward ms | '
              'forward+backward ms | peak MiB, forward+backward |')
        print('|---|---|---|---|---|---|')
        for r in rows:
            macs = f'{r["macs"] / 1e9:.1f}' if 'macs' in r else '-'
            peak = f'{r["peak"]:.0f}' if r['peak'] is not None else '-'
            print(f'| {r["label"]} | {r["params"] / 1e6:.2f} | {macs} | '
                  f'{r["fwd"]:.0f} | {r["train"]:.0f} | {peak} |')
        return
    compiled = ' | compiled fwd / fwd+bwd' if args.compile else ''
    names = ' / '.join(args.allocators)
    print('Ratios official / ours; allocators: ' + '; '.join(
        f'{a} = {ALLOCATORS[a]}' for a in args.allocators))
    print(f'| {args.network}, input | forward ({names}) | forward+backward '
          f'({names}) | peak memory ours / official{compiled} |')
    print('|---|---|---|---|' + ('---|' if args.compile else ''))
    for r in rows:
        mem = f'{r["mem_ratio"]:.2f}' if 'mem_ratio' in r else '-'
        fwd = ' / '.join(f'{r["ratios"][a][0]:.2f}' for a in args.allocators)
        train = ' / '.join(f'{r["ratios"][a][1]:.2f}'
                           for a in args.allocators)
        line = f'| {r["label"]} | {fwd} | {train} | {mem} |'
        if args.compile:
            line += (f' {r.get("compiled_fwd_ratio", float("nan")):.2f} / '
                     f'{r.get("compiled_train_ratio", float("nan")):.2f} |')
        print(line)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Our backbones against the official code and stock '
        'OpenMMLab backbones, each measurement in its own process')
    parser.add_argument('network', choices=sorted(PAIRS) + ['zoo'])
    parser.add_argument(
        '--official-repo', help='checkout of the official repository')
    parser.add_argument(
        '--arch', nargs='+',
        help='arch names (default: tiny and small; zoo: every entry)')
    parser.add_argument('--sizes', nargs='+', help='HxW or S')
    parser.add_argument(
        '--batch', type=int,
        help='default 8 at 256 pixels and below, else 1')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--iters', type=int, default=5)
    parser.add_argument(
        '--repeat', type=int, default=1,
        help='time runs per side, alternating sides; the median is kept')
    parser.add_argument('--threads', type=int, help='torch CPU threads')
    parser.add_argument('--device', default='cpu')
    parser.add_argument(
        '--amp', choices=['fp16', 'bf16'], help='autocast both sides')
    parser.add_argument(
        '--compile', action='store_true',
        help='also time torch.compile of ours (compiling takes minutes)')
    parser.add_argument(
        '--compile-options', nargs='+', default=[], metavar='KEY=VALUE',
        help='inductor options for --compile, e.g. '
        'force_layout_optimization=True (see docs/deployment.md)')
    parser.add_argument(
        '--profile', action='store_true',
        help='split the time of each side (and of compiled ours, with '
        '--compile) with torch.profiler')
    parser.add_argument(
        '--allocator', choices=['both', 'default', 'kept'], default='both',
        help="time under glibc's defaults, under glibc keeping freed memory "
        '(as jemalloc/tcmalloc would, and the tools with '
        'VIT_BACKBONES_MALLOC=keep), or both (default)')
    parser.add_argument('--skip-memory', action='store_true')
    parser.add_argument('--skip-flops', action='store_true')
    args = parser.parse_args(argv)
    args.allocators = (['default', 'kept'] if args.allocator == 'both' else
                       [args.allocator])
    if args.network != 'zoo' and not args.official_repo:
        parser.error(f'{args.network} needs --official-repo')
    if args.repeat < 1:
        parser.error(f'--repeat must be at least 1, got {args.repeat}')
    args.compile_options = parse_compile_options(parser, args)
    if args.network == 'zoo':
        args.arch = args.arch or list(ZOO)
        unknown = sorted(set(args.arch) - set(ZOO))
        if unknown:
            parser.error(f'unknown zoo entries {unknown}; known: {list(ZOO)}')
        args.sizes = args.sizes or ['800x1216']
    else:
        pair = PAIRS[args.network]
        args.arch = args.arch or list(pair.archs)
        args.sizes = args.sizes or list(pair.sizes)
    return args


def parse_compile_options(parser, args):
    """``KEY=VALUE`` words into ``torch.compile``'s ``options`` dict: keys
    must be inductor settings, values Python literals."""
    if not args.compile_options:
        return {}
    if not args.compile:
        parser.error('--compile-options needs --compile')
    # imported only here: it takes about a second
    from torch._inductor import config as inductor_config
    known = inductor_config.get_config_copy()
    options = {}
    for word in args.compile_options:
        key, sep, text = word.partition('=')
        if not sep or key not in known:
            parser.error(f'--compile-options takes KEY=VALUE with KEY an '
                         f'inductor setting, not {word!r}')
        try:
            options[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            parser.error(f'--compile-options {key}: {text!r} is not a '
                         f'Python literal (True, 1, "text", ...)')
    return options


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ['--worker']:
        job = json.loads(argv[1])
        result = run_worker(job)
        with open(job['result'], 'w') as f:
            json.dump(result, f)
        return
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    # the limit at the rate of the dtype the matmuls run in
    dtype = AMP_DTYPES[args.amp] if args.amp else torch.float32
    rate = matmul_rate(device, dtype)
    print(f'{args.network}: {torch.get_num_threads()} threads, {device}'
          f'{", autocast " + args.amp if args.amp else ""}, torch '
          f'{torch.__version__}; {str(dtype).replace("torch.", "")} matmul '
          f'rate {rate / 1e9:.1f} GFLOP/s (1024x1024)', flush=True)
    if args.compile:
        print(f'torch.compile options: {args.compile_options or "default"}')
    rows = []
    for arch in args.arch:
        sizes = args.sizes
        if args.network == 'dhvt' and 'cifar' in arch:
            sizes = ['32']  # a CIFAR model at its native size
        for text in sizes:
            rows.append(run_pair(args, arch, parse_size(text), rate))
    print_table(args, rows)


if __name__ == '__main__':
    main()
