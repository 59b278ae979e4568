"""The picture and report helpers behind ``make demo`` (the whole path runs
in tests/test_tools/test_demo_configs.py)."""
import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData, PixelData

from vit_backbones.engine.hooks.prediction_pictures import (CORRECT_COLOUR,
                                                            MISTAKE_COLOUR,
                                                            contact_sheet,
                                                            det_correct,
                                                            scale_det_sample,
                                                            scale_seg_sample,
                                                            seg_miou,
                                                            upscale_factor)
from vit_backbones.tools.demo_report import _all_background_miou, summary_lines


def test_upscale_factor():
    assert upscale_factor(64, 64, 256) == 4
    assert upscale_factor(100, 300, 256) == 3
    assert upscale_factor(800, 1216, 256) == 1


def test_contact_sheet_frames_right_and_wrong():
    pictures = [np.full((64, 64, 3), 128, np.uint8),
                np.full((64, 128, 3), 128, np.uint8)]
    sheet = contact_sheet(pictures, [True, False], columns=2, cell=32,
                          border=2)
    assert sheet.shape == (36, 2 * 68, 3)  # cells as wide as the widest
    assert tuple(sheet[0, 0]) == CORRECT_COLOUR
    assert tuple(sheet[0, 68]) == MISTAKE_COLOUR
    assert tuple(sheet[10, 10]) == (128, 128, 128)
    with pytest.raises(ValueError, match='at least one'):
        contact_sheet([], [])


def _det_sample(pred_boxes, pred_labels, scores):
    from mmdet.structures import DetDataSample
    sample = DetDataSample(metainfo=dict(ori_shape=(20, 20)))
    sample.gt_instances = InstanceData(
        bboxes=torch.tensor([[0., 0., 10., 10.]]), labels=torch.tensor([1]),
        masks=torch.zeros(1, 20, 20, dtype=torch.bool))
    sample.pred_instances = InstanceData(
        bboxes=torch.tensor(pred_boxes).reshape(-1, 4),
        labels=torch.tensor(pred_labels), scores=torch.tensor(scores))
    return sample


def test_detection_right_and_wrong():
    assert det_correct(_det_sample([[0., 0., 10., 9.]], [1], [0.9]), 0.3)
    # wrong class, missed object, extra confident box
    assert not det_correct(_det_sample([[0., 0., 10., 9.]], [2], [0.9]), 0.3)
    assert not det_correct(_det_sample([[0., 0., 10., 9.]], [1], [0.1]), 0.3)
    assert not det_correct(
        _det_sample([[0., 0., 10., 9.], [12., 12., 19., 19.]], [1, 1],
                    [0.9, 0.8]), 0.3)
    big = scale_det_sample(_det_sample([[0., 0., 10., 9.]], [1], [0.9]), 3)
    assert big.gt_instances.bboxes.tolist() == [[0., 0., 30., 30.]]
    assert big.gt_instances.masks.shape == (1, 60, 60)


def test_segmentation_miou_and_scaling():
    from mmseg.structures import SegDataSample
    sample = SegDataSample()
    gt = torch.zeros(1, 4, 4, dtype=torch.long)
    gt[:, :2] = 1
    pred = gt.clone()
    pred[:, 1] = 0  # half of class 1 predicted as class 0
    sample.gt_sem_seg = PixelData(data=gt)
    sample.pred_sem_seg = PixelData(data=pred)
    assert seg_miou(sample, 3) == pytest.approx((8 / 12 + 4 / 8) / 2)
    big = scale_seg_sample(sample, 2)
    assert big.pred_sem_seg.shape == (8, 8)
    assert seg_miou(big, 3) == pytest.approx(seg_miou(sample, 3))


def test_all_background_miou(tmp_path):
    import mmcv

    class Maps:
        def __init__(self, paths):
            self.paths = paths

        def __len__(self):
            return len(self.paths)

        def get_data_info(self, i):
            return dict(seg_map_path=self.paths[i])

    seg = np.zeros((4, 4), np.uint8)
    seg[0] = 2  # 12 background pixels, 4 of class 2, class 1 absent
    seg[1, 0] = 255  # ignored
    path = str(tmp_path / 'a.png')
    mmcv.imwrite(seg, path)
    assert _all_background_miou(Maps([path]), 3) == pytest.approx(
        100 * 11 / 15 / 2)


def test_summary_lines():
    lines = summary_lines('cls', {'accuracy/top1': 99.5}, 25.0, 125)
    assert lines == ['accuracy/top1 = 99.5 % on the test set (chance '
                     'level: 25.0 %)',
                     'wall time: 2 min 05 s (data, training and testing)']
    det = summary_lines('det', {'coco/bbox_mAP_50': 0.644}, 0.0)
    assert det == ['coco/bbox_mAP_50 = 0.644 on the test set (chance '
                   'level: 0.000)']
    with pytest.raises(KeyError, match='mIoU'):
        summary_lines('seg', {'aAcc': 90.}, 10.)


def test_sheet_selection_shows_mistakes_and_the_whole_set():
    from vit_backbones.engine.hooks.prediction_pictures import select_for_sheet
    correct = [True] * 100
    correct[3] = correct[97] = False
    chosen = select_for_sheet(correct, 16)
    assert len(chosen) == 16 and chosen == sorted(chosen)
    assert 3 in chosen and 97 in chosen
    assert max(chosen) > 90  # spread over the set, not its first 16
    assert select_for_sheet([False] * 5, 16) == [0, 1, 2, 3, 4]
    assert len(select_for_sheet([False] * 40, 16)) == 16
