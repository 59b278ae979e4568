"""What a run shows a person afterwards: a picture of its training curves
and a one-line result with the chance level.

``tools/analysis_tools/demo_report.py`` (called at the end of ``make demo``)
puts them together; the functions work on any work dir written by
``tools/train.py`` / ``tools/test.py``.
"""
import glob
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

# The metric each task's demo is judged by, in order of preference.
MAIN_METRICS = {
    'cls': ('accuracy/top1', ),
    'det': ('coco/segm_mAP_50', 'coco/bbox_mAP_50'),
    'seg': ('mIoU', ),
}
_TIMING_KEYS = {'data_time', 'time', 'step', 'epoch', 'iter', 'memory'}


def task_of(cfg) -> str:
    """'cls', 'det' or 'seg' from a config's default scope."""
    scope = cfg.get('default_scope', 'mmpretrain')
    return dict(mmpretrain='cls', mmdet='det', mmseg='seg')[scope]


def find_training_scalars(work_dir: str) -> str:
    """The ``vis_data/scalars.json`` of the newest training run in
    ``work_dir`` (test runs write no training entries)."""
    candidates = sorted(
        glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    for path in reversed(candidates):
        if load_scalars(path)['train']:
            return path
    raise FileNotFoundError(
        f'No training log (*/vis_data/scalars.json with training entries) '
        f'in {work_dir}; train with tools/train.py --work-dir {work_dir}.')


def load_scalars(path: str) -> Dict[str, List[dict]]:
    """mmengine's scalar log as ``{'train': [...], 'val': [...]}`` (the
    reader of mmpretrain's log-analysis tool)."""
    from mmpretrain.utils import load_json_log
    return load_json_log(path)


def pick_metrics(val_logs: Sequence[dict],
                 task: Optional[str] = None) -> List[str]:
    """The validation metrics to show: the task's main one(s) when logged,
    else every non-timing key."""
    keys = set()
    for log in val_logs:
        keys |= set(log)
    if task is not None:
        wanted = [k for k in MAIN_METRICS[task] if k in keys]
        if wanted:
            return wanted[:1]
    return sorted(keys - _TIMING_KEYS)


def plot_training_curves(scalars_path: str,
                         out_file: str,
                         task: Optional[str] = None,
                         title: Optional[str] = None,
                         chance: Optional[float] = None) -> str:
    """Draw the training loss (against the iteration) and the validation
    metric (against the epoch, or the iteration for iteration-based loops)
    into a PNG.

    Args:
        scalars_path (str): A ``vis_data/scalars.json``.
        out_file (str): The PNG to write.
        task (str, optional): 'cls', 'det' or 'seg', to show only the main
            metric. Defaults to None (every logged metric).
        title (str, optional): The figure title. Defaults to None.
        chance (float, optional): A chance level to draw as a dashed line
            under the validation curve. Defaults to None.

    Returns:
        str: ``out_file``.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    logs = load_scalars(scalars_path)
    train = [log for log in logs['train'] if 'loss' in log]
    if not train:
        raise ValueError(f'{scalars_path} has no training loss entries.')
    fig, (loss_ax, val_ax) = plt.subplots(1, 2, figsize=(11, 4))
    loss_ax.plot([log['step'] for log in train],
                 [log['loss'] for log in train], color='tab:blue')
    loss_ax.set_xlabel('iteration')
    loss_ax.set_ylabel('training loss')
    loss_ax.grid(alpha=0.3)
    metrics = pick_metrics(logs['val'], task)
    by_epoch = any('epoch' in log for log in train)
    for metric in metrics:
        points = [(log['step'], log[metric]) for log in logs['val']
                  if metric in log]
        val_ax.plot(*zip(*points), marker='o', label=metric)
    if chance is not None and metrics:
        val_ax.axhline(chance, color='grey', linestyle='--', label='chance')
    val_ax.set_xlabel('epoch' if by_epoch else 'iteration')
    val_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    val_ax.set_ylabel('validation')
    val_ax.grid(alpha=0.3)
    if metrics:
        val_ax.legend()
    else:
        val_ax.text(0.5, 0.5, 'no validation logged', ha='center',
                    transform=val_ax.transAxes)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out_file, dpi=100)
    plt.close(fig)
    return out_file


def find_test_metrics(work_dir: str) -> Dict[str, float]:
    """The metrics of the newest ``tools/test.py`` run in ``work_dir`` (its
    ``<timestamp>/<timestamp>.json``)."""
    runs = sorted(glob.glob(osp.join(work_dir, '*', '*.json')))
    for path in reversed(runs):
        stem = osp.splitext(osp.basename(path))[0]
        if osp.basename(osp.dirname(path)) != stem:
            continue
        with open(path) as f:
            return json.load(f)
    raise FileNotFoundError(f'No test result (<timestamp>/<timestamp>.json) '
                            f'in {work_dir}; run tools/test.py --work-dir '
                            f'{work_dir}.')


def chance_level(cfg, task: str) -> float:
    """The metric of a trivial predictor on the config's test set: one class
    for everything (classification: ``100 / classes``; segmentation: all
    background, from the ground-truth maps) or no boxes (detection: 0)."""
    if task == 'det':
        return 0.0
    from mmengine.registry import DATASETS, init_default_scope
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    dataset_cfg = cfg.test_dataloader.dataset.copy()
    dataset_cfg['lazy_init'] = True
    dataset = DATASETS.build(dataset_cfg)
    dataset.full_init()  # folder datasets find their classes here
    classes = dataset.metainfo['classes']
    if task == 'cls':
        return 100.0 / len(classes)
    return _all_background_miou(dataset, len(classes))


def _all_background_miou(dataset, num_classes: int,
                         background: int = 0,
                         ignore_index: int = 255) -> float:
    """mmseg's dataset-level mIoU of predicting ``background`` everywhere:
    the background IoU is its pixel share, every other class present in the
    ground truth has IoU 0."""
    import mmcv
    import numpy as np
    counts = np.zeros(num_classes, dtype=np.int64)
    for i in range(len(dataset)):
        seg = mmcv.imread(
            dataset.get_data_info(i)['seg_map_path'], flag='unchanged')
        seg = seg[seg != ignore_index]
        counts += np.bincount(seg.ravel(), minlength=num_classes)[:num_classes]
    present = int((counts > 0).sum())
    return 100.0 * counts[background] / max(counts.sum(), 1) / max(present, 1)


def summary_lines(task: str, metrics: Dict[str, float], chance: float,
                  wall_seconds: Optional[float] = None) -> List[str]:
    """The result in words: the main metric reached and the chance level,
    and the wall time."""
    name = next((k for k in MAIN_METRICS[task] if k in metrics), None)
    if name is None:
        raise KeyError(f'None of {MAIN_METRICS[task]} in the test metrics '
                       f'{sorted(metrics)}.')
    value = metrics[name]
    # mmdet reports mAP in [0, 1]; mmpretrain and mmseg in percent.
    unit = '' if task == 'det' else ' %'
    chance_text = f'{chance:.3f}' if task == 'det' else f'{chance:.1f} %'
    value_text = f'{value:.3f}' if task == 'det' else f'{value:.1f}'
    lines = [f'{name} = {value_text}{unit} on the test set '
             f'(chance level: {chance_text})']
    if wall_seconds is not None:
        minutes, seconds = divmod(int(round(wall_seconds)), 60)
        lines.append(f'wall time: {minutes} min {seconds:02d} s '
                     '(data, training and testing)')
    return lines
