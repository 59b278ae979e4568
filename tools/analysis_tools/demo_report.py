"""The end of a demo run in one place: the training curves as a PNG, the
metric reached against the chance level, the wall time, and where the
pictures are::

    python tools/analysis_tools/demo_report.py CONFIG WORK_DIR \
        [--pictures DIR] [--wall-seconds S]

WORK_DIR is the one given to ``tools/train.py`` and ``tools/test.py``;
``training_curves.png`` is written into it. ``--pictures`` is the
``--show-dir`` of the test run (its ``contact_sheet.png`` is listed).
"""
import argparse
import os.path as osp

from mmengine.config import Config, DictAction

from vit_backbones.tools.demo_report import (chance_level, find_test_metrics,
                                             find_training_scalars,
                                             plot_training_curves,
                                             summary_lines, task_of)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('work_dir')
    parser.add_argument('--pictures', help='the --show-dir of the test run')
    parser.add_argument('--wall-seconds', type=float,
                        help='the wall time of the whole run')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings (as for tools/test.py)')
    args = parser.parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    task = task_of(cfg)
    chance = chance_level(cfg, task)
    curves = plot_training_curves(
        find_training_scalars(args.work_dir),
        osp.join(args.work_dir, 'training_curves.png'), task=task,
        title=osp.splitext(osp.basename(args.config))[0], chance=chance)
    lines = summary_lines(task, find_test_metrics(args.work_dir), chance,
                          args.wall_seconds)
    lines.append(f'training curves: {curves}')
    if args.pictures:
        sheet = osp.join(args.pictures, 'contact_sheet.png')
        if osp.isfile(sheet):
            lines.append(f'contact sheet : {sheet} (green: right, red: '
                         'wrong)')
        lines.append(f'pictures      : {args.pictures}')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
