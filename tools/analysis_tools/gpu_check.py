"""The checks of a CUDA machine, in one command (about ten minutes on one
GPU with the stack installed by ``tools/install.sh``)::

    python tools/analysis_tools/gpu_check.py --official-root /path/to/official

1. ``tests``: the contract tests that take a device
   (``pytest -m device --device cuda``): output sizes, batch independence,
   gradients, frozen stages, ``with_cp``, fp16 and bf16 autocast, and the
   fp32 outputs and gradients against the CPU's.
2. ``official``: each network against its official code on the same
   weights, under fp16 autocast (``benchmark_official.py NET --device cuda
   --amp fp16``, the first arch at 224), ViL in fp32 (the official ViL
   does not run under autocast); the checkouts are looked up under
   ``--official-root`` as ``HAT-Net``, ``vision-longformer``, ``HVT`` and
   ``DHVT`` (one that is missing is reported as skipped, not passed).
3. ``train``: one training iteration, fp16 AMP, of RetinaNet and of
   Semantic FPN for each network, with the toolboxes' own runner from
   ``configs/demo`` on demo data written to a temporary folder.

Each check runs in its own process under a time limit; the table at the
end gives each one's status and seconds, the figures are in the log above
it, and the exit status is 1 when any check failed. ``--only`` picks
checks. ``--device cpu`` runs the same on the CPU (without AMP): a dry run
of the script itself.
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CHECKS = ('tests', 'official', 'train')

#: network -> (checkout folder under --official-root, arch, autocast dtype
#: or None for fp32)
OFFICIAL = dict(
    hat_net=('HAT-Net', 'tiny', 'fp16'),
    vil=('vision-longformer', 'tiny', None),
    hvt=('HVT', 'ti-1', 'fp16'),
    dhvt=('DHVT', 'tiny-in1k-p16', 'fp16'))

#: the demo configs of one RetinaNet and one Semantic FPN iteration
TRAIN_CONFIGS = tuple(
    f'configs/demo/{name}.py' for name in (
        'retinanet_hat-net-tiny_fpn_shapes',
        'retinanet_vil-tiny_fpn_shapes',
        'retinanet_hvt-s-2-2d_fpn_shapes',
        'retinanet_dhvt-tiny-p16_fpn_shapes',
        'fpn_hat-net-tiny_1xb8_shapes-128x128',
        'fpn_vil-tiny_1xb8_shapes-128x128',
        'fpn_hvt-s-1_1xb8_shapes-128x128',
        'fpn_dhvt-tiny-p16_1xb8_shapes-128x128'))

AMP_OPTIM_DTYPES = dict(fp16='float16', bf16='bfloat16')


def train_one_iteration(config: str, data_root: str, work_dir: str,
                        amp: str = None) -> dict:
    """Build ``config`` with mmengine's runner, pointed at demo data under
    ``data_root`` (``make_demo_data(data_root)``), and run one training
    iteration of batch 2 (``model.train_step``, under ``AmpOptimWrapper``
    with ``amp``).

    Returns:
        dict: ``losses`` (name -> float), ``device`` and ``updated``:
        whether the step changed the backbone's weights (an fp16 loss
        scaler skips a step whose gradients overflow).
    """
    import torch
    from mmengine.config import Config
    from mmengine.runner import Runner

    from vit_backbones.tools.demo_data import demo_data_options
    from vit_backbones.tools.recipes import config_task

    cfg = Config.fromfile(config)
    cfg.merge_from_dict(
        dict(option.split('=', 1)
             for option in demo_data_options(config_task(cfg), data_root)))
    cfg.work_dir = work_dir
    cfg.train_dataloader.batch_size = 2
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    if amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.dtype = AMP_OPTIM_DTYPES[amp]
    runner = Runner.from_cfg(cfg)
    model = runner.model
    model.train()
    optim_wrapper = runner.build_optim_wrapper(cfg.optim_wrapper)
    batch = next(iter(runner.build_dataloader(cfg.train_dataloader)))
    before = [p.detach().clone() for p in model.backbone.parameters()
              if p.requires_grad]
    losses = model.train_step(batch, optim_wrapper)
    losses = {name: float(value) for name, value in losses.items()}
    bad = [name for name, value in losses.items()
           if not torch.isfinite(torch.tensor(value))]
    if bad:
        raise RuntimeError(f'{config}: non-finite losses {bad}: {losses}')
    after = [p for p in model.backbone.parameters() if p.requires_grad]
    updated = any(not torch.equal(a, b) for a, b in zip(after, before))
    return dict(losses=losses, device=str(before[0].device),
                updated=updated)


def run_step(name, command, timeout, results):
    print(f'\n[gpu_check] {name}: {" ".join(command)}', flush=True)
    start = time.time()
    try:
        code = subprocess.run(
            command, cwd=REPO_ROOT, timeout=timeout).returncode
        status = 'passed' if code == 0 else f'failed (exit {code})'
    except subprocess.TimeoutExpired:
        status = f'failed (over {timeout} s)'
    results.append((name, status, time.time() - start))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='The tests, the official comparison and one training '
        'iteration of each dense task on a CUDA device')
    parser.add_argument('--device', default='cuda')
    parser.add_argument(
        '--official-root',
        help='folder holding checkouts named HAT-Net, vision-longformer, '
        'HVT and DHVT (without it the official comparison is skipped)')
    parser.add_argument('--only', nargs='+', choices=CHECKS,
                        default=list(CHECKS))
    parser.add_argument('--timeout', type=int, default=300,
                        help='seconds allowed to each process')
    parser.add_argument('--train-one', nargs=2, metavar=('CONFIG', 'DATA'),
                        help=argparse.SUPPRESS)
    parser.add_argument('--amp', choices=sorted(AMP_OPTIM_DTYPES),
                        help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.train_one:  # one training iteration, in its own process
        config, data_root = args.train_one
        with tempfile.TemporaryDirectory() as work_dir:
            result = train_one_iteration(config, data_root, work_dir,
                                         args.amp)
        losses = ', '.join(
            f'{k} {v:.4g}' for k, v in result['losses'].items())
        print(f'[gpu_check] {config}: one iteration on {result["device"]}, '
              f'weights {"updated" if result["updated"] else "NOT updated"}'
              f'; {losses}')
        return 0

    import torch
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        sys.exit(f'--device {args.device}: torch {torch.__version__} sees no '
                 'CUDA device')
    gpu = device.type == 'cuda'
    if gpu:
        print(f'[gpu_check] {torch.cuda.get_device_name(device)}, torch '
              f'{torch.__version__}, CUDA {torch.version.cuda}', flush=True)
    python = sys.executable
    results = []
    if 'tests' in args.only:
        run_step('tests', [
            python, '-m', 'pytest', '-q', '-m', 'device', '--device',
            args.device, 'tests/test_models/test_backbones/test_contract.py'
        ], args.timeout, results)
    if 'official' in args.only:
        for net, (folder, arch, amp) in OFFICIAL.items():
            repo = osp.join(args.official_root or '', folder)
            if not args.official_root or not osp.isdir(repo):
                results.append((f'official {net}',
                                f'skipped (no checkout {repo})', 0.))
                continue
            command = [
                python, 'tools/analysis_tools/benchmark_official.py', net,
                '--official-repo', repo, '--device', args.device, '--arch',
                arch, '--sizes', '224', '--allocator', 'default',
                '--skip-flops'
            ]
            if amp and gpu:
                command += ['--amp', amp]
            run_step(f'official {net}', command, args.timeout, results)
    if 'train' in args.only:
        from vit_backbones.tools.demo_data import make_demo_data
        with tempfile.TemporaryDirectory() as data_root:
            make_demo_data(data_root, tasks=('det', 'seg'),
                           sizes=dict(det=dict(train=4, val=2, image=128),
                                      seg=dict(train=4, val=2, image=128)))
            for config in TRAIN_CONFIGS:
                command = [python, osp.abspath(__file__), '--train-one',
                           config, data_root]
                if gpu:
                    command += ['--amp', 'fp16']
                run_step(f'train {osp.basename(config)[:-3]}', command,
                         args.timeout, results)

    print('\n| check | status | seconds |\n|---|---|---|')
    for name, status, seconds in results:
        print(f'| {name} | {status} | {seconds:.0f} |')
    return 1 if any(s.startswith('failed') for _, s, _ in results) else 0


if __name__ == '__main__':
    os.environ.setdefault('PYTHONUNBUFFERED', '1')
    sys.exit(main())
