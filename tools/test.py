"""Evaluate a checkpoint on a config's test set (classification, detection or
segmentation; the config's ``default_scope`` decides).

    python tools/test.py CONFIG CHECKPOINT [--show-dir DIR] [--out FILE]

``--show-dir DIR`` saves a readable picture of every ``--show-interval``-th
prediction (small images enlarged, drawn by the toolbox's own visualizer)
and ``contact_sheet.png``, the first 16 framed green (right) or red (wrong),
in ``DIR`` (relative paths are under the work dir).
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
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where to save the metrics')
    parser.add_argument(
        '--out', help='dump the raw predictions to this pickle file')
    parser.add_argument(
        '--show-dir',
        help='save pictures of the predictions here (relative paths are '
        'taken under the run\'s work_dir/<timestamp>/ for mmdet and '
        'mmpretrain, under work_dir/ for mmseg)')
    parser.add_argument(
        '--show-interval',
        type=int,
        default=1,
        help='draw every N-th test image (default: all)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. test_dataloader.batch_size=1')
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


def enable_visualization(cfg, show_dir, interval=1):
    """Save readable pictures of the predictions and a contact sheet with
    :class:`~vit_backbones.engine.hooks.PredictionPicturesHook` (the same
    hook for classification, detection and segmentation; it draws with the
    toolbox's own visualizer). The toolbox's visualisation hook stays as
    the config has it (off by default)."""
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
        dict(type='PredictionPicturesHook', out_dir=show_dir,
             interval=interval)
    ]


def main(argv=None):
    args = parse_args(argv)
    setup_runtime(unsafe_load=args.unsafe_load)
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    check_data_roots(cfg, fields=('test_dataloader', ))
    if args.show_dir:
        enable_visualization(cfg, args.show_dir, args.show_interval)
    if cfg.get('default_scope', 'mmpretrain') == 'mmpretrain':
        cfg.test_dataloader.setdefault('collate_fn',
                                       dict(type='default_collate'))
    prepare_cfg_for_launcher(cfg, args.launcher)

    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else \
        RUNNERS.build(cfg)
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError('--out must be a .pkl or .pickle file.')
        scope = cfg.get('default_scope', 'mmpretrain')
        if scope == 'mmdet':
            from mmdet.evaluation import DumpDetResults as Dump
        elif scope == 'mmpretrain':
            from mmengine.evaluator import DumpResults as Dump
        else:
            raise ValueError('--out is not supported for mmseg configs; use '
                             '--cfg-options test_evaluator.output_dir=DIR '
                             'test_evaluator.format_only=True.')
        runner.test_evaluator.metrics.append(Dump(out_file_path=args.out))
    metrics = runner.test()
    # The runner holds the process group (through DDP) until it is freed;
    # see close_process_group.
    del runner
    close_process_group()
    return metrics


if __name__ == '__main__':
    main()
