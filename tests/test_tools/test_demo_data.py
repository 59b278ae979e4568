"""The synthetic demo data load through the toolboxes' own dataset classes."""
import json
import os.path as osp

import numpy as np
import pytest
from mmengine.registry import init_default_scope
from PIL import Image

from vit_backbones.tools.demo_data import CLASSES, SEG_CLASSES, make_demo_data

SIZES = dict(
    cls=dict(train=3, val=2, image=32),
    det=dict(train=6, val=3, image=64),
    seg=dict(train=5, val=2, image=64))


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('demo'))
    summary = make_demo_data(root, seed=3, sizes=SIZES)
    return root, summary


def test_generation_is_deterministic(root, tmp_path):
    root, _ = root
    make_demo_data(str(tmp_path), seed=3, tasks=('det', ), sizes=SIZES)
    for split in ('train', 'val'):
        a = json.load(open(osp.join(root, 'det/annotations',
                                    f'instances_{split}.json')))
        b = json.load(open(osp.join(tmp_path, 'det/annotations',
                                    f'instances_{split}.json')))
        assert a == b
    img_a = np.asarray(Image.open(osp.join(root, 'det/train/00000.png')))
    img_b = np.asarray(Image.open(osp.join(tmp_path, 'det/train/00000.png')))
    assert (img_a == img_b).all()


def test_classification_folders_load(root):
    root, summary = root
    init_default_scope('mmpretrain')
    from mmpretrain.datasets import CustomDataset
    for split in ('train', 'val'):
        dataset = CustomDataset(
            data_root=osp.join(root, 'cls'), data_prefix=split, pipeline=[])
        assert len(dataset) == summary['cls'][split] == \
            SIZES['cls'][split] * len(CLASSES)
        assert sorted(dataset.CLASSES) == sorted(CLASSES)
        labels = [dataset.get_data_info(i)['gt_label']
                  for i in range(len(dataset))]
        assert sorted(set(labels)) == list(range(len(CLASSES)))


def test_coco_files_load(root):
    root, summary = root
    init_default_scope('mmdet')
    from mmdet.datasets import CocoDataset
    for split in ('train', 'val'):
        dataset = CocoDataset(
            data_root=osp.join(root, 'det'),
            ann_file=f'annotations/instances_{split}.json',
            data_prefix=dict(img=f'{split}/'),
            metainfo=dict(classes=CLASSES),
            pipeline=[])
        assert len(dataset) == summary['det'][split] == SIZES['det'][split]
        instances = sum(
            len(dataset.get_data_info(i)['instances'])
            for i in range(len(dataset)))
        assert instances == summary['det'][f'{split}_instances']
        info = dataset.get_data_info(0)
        inst = info['instances'][0]
        x1, y1, x2, y2 = inst['bbox']
        assert 0 <= x1 < x2 <= 64 and 0 <= y1 < y2 <= 64
        assert 0 <= inst['bbox_label'] < len(CLASSES)
        assert len(inst['mask'][0]) >= 6  # a polygon


def test_segmentation_pairs_load(root):
    root, summary = root
    init_default_scope('mmseg')
    from mmseg.datasets import BaseSegDataset
    for split in ('train', 'val'):
        dataset = BaseSegDataset(
            data_root=osp.join(root, 'seg'),
            data_prefix=dict(
                img_path=f'img_dir/{split}', seg_map_path=f'ann_dir/{split}'),
            img_suffix='.png',
            seg_map_suffix='.png',
            metainfo=dict(classes=SEG_CLASSES),
            pipeline=[])
        assert len(dataset) == summary['seg'][split] == SIZES['seg'][split]
        seg_map = dataset.get_data_info(0)['seg_map_path']
        label = np.asarray(Image.open(seg_map))
        assert label.max() < len(SEG_CLASSES) and label.max() > 0
        assert (label == 0).any()


def test_unknown_task_is_rejected(tmp_path):
    with pytest.raises(ValueError, match='Unknown demo task'):
        make_demo_data(str(tmp_path), tasks=('depth', ))
