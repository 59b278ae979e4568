"""Fail early, with the fix, when a config's dataset is not on disk."""
import os.path as osp

DEMO_HINT = ('Make the demo data with:\n'
             '    python tools/dataset_converters/make_demo_data.py '
             '--root {root}')
DATASET_HINT = ('Download the dataset and place it there (see the dataset '
                'preparation guide of mmpretrain/mmdet/mmseg), or point the '
                'config at it with --cfg-options {field}.dataset.data_root=DIR')


def _datasets(cfg_dataset):
    """The dataset cfg and those wrapped inside it (RepeatDataset, ...)."""
    while cfg_dataset is not None:
        yield cfg_dataset
        cfg_dataset = cfg_dataset.get('dataset')


def check_data_roots(cfg, fields=('train_dataloader', 'val_dataloader',
                                  'test_dataloader')) -> None:
    """Raise ``FileNotFoundError`` naming the command that makes the data
    when a dataloader's ``data_root`` does not exist."""
    for field in fields:
        loader = cfg.get(field)
        if not loader:
            continue
        for dataset in _datasets(loader.get('dataset')):
            root = dataset.get('data_root')
            if not root or osp.isdir(root):
                continue
            demo_root = root
            for sub in ('cls', 'det', 'seg'):
                if osp.basename(osp.normpath(root)) == sub:
                    demo_root = osp.dirname(osp.normpath(root))
            hint = DEMO_HINT.format(root=demo_root) if 'demo' in root \
                else DATASET_HINT.format(field=field)
            raise FileNotFoundError(
                f'The data root {root!r} of {field} does not exist.\n{hint}')
