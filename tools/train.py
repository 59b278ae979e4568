"""Train a classifier, detector or segmentor from a config.

One script for the three toolboxes: the config's ``default_scope``
(``mmpretrain``, ``mmdet`` or ``mmseg``, inherited from their
``default_runtime.py``) selects the registries. Examples::

    python tools/train.py configs/hat_net/hat-net-tiny_8xb128_in1k.py
    bash tools/dist_train.sh configs/hat_net/retinanet_hat-net-tiny_fpn_1x_coco.py 8
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from vit_backbones.checkpoint.files import add_unsafe_load_argument
from vit_backbones.tools.data_check import check_data_roots
from vit_backbones.tools.runtime import (close_process_group,
                                         prepare_cfg_for_launcher,
                                         setup_runtime)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='where to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        const='auto',
        help='resume from this checkpoint, or from the latest one in the '
        'work directory when no path is given')
    parser.add_argument(
        '--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='skip evaluation during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the lr by the actual / the config\'s base batch size')
    parser.add_argument(
        '--no-pin-memory', action='store_true', help='pin_memory=False')
    parser.add_argument(
        '--no-persistent-workers',
        action='store_true',
        help='persistent_workers=False')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. '
        'train_cfg.max_iters=10 model.backbone.drop_path_rate=0.2')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    add_unsafe_load_argument(parser)
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_args(cfg, args):
    """Apply the command-line options to ``cfg``."""
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg:
            raise ValueError('--auto-scale-lr needs `auto_scale_lr` '
                             '(base_batch_size) in the config.')
        cfg.auto_scale_lr.enable = True

    # mmpretrain batches are stacked tensors; mmdet/mmseg keep lists.
    scope = cfg.get('default_scope', 'mmpretrain')
    for field in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(field)
        if loader is None:
            continue
        loader.setdefault('pin_memory', True)
        loader.setdefault('persistent_workers',
                          loader.get('num_workers', 0) > 0)
        if scope == 'mmpretrain':
            loader.setdefault('collate_fn', dict(type='default_collate'))
        if args.no_pin_memory:
            loader.pin_memory = False
        if args.no_persistent_workers or loader.get('num_workers', 0) == 0:
            loader.persistent_workers = False
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    # Exact resume: the global random generators are reseeded from (seed,
    # epoch) at the start of every epoch (see EpochSeedHook).
    hooks = list(cfg.get('custom_hooks', []))
    if not any(h.get('type') == 'EpochSeedHook' for h in hooks):
        cfg.custom_hooks = hooks + [dict(type='EpochSeedHook')]
    return cfg


def main(argv=None):
    args = parse_args(argv)
    setup_runtime(unsafe_load=args.unsafe_load)
    cfg = Config.fromfile(args.config)
    cfg = merge_args(cfg, args)
    check_data_roots(cfg)
    prepare_cfg_for_launcher(cfg, args.launcher)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else \
        RUNNERS.build(cfg)
    runner.train()
    # The runner holds the process group (through DDP) until it is freed;
    # see close_process_group.
    del runner
    close_process_group()


if __name__ == '__main__':
    main()
