"""Readable pictures of test predictions, for all three tasks, and a contact
sheet of them."""
import math
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import mmcv
import numpy as np
import torch
import torch.nn.functional as F
from mmengine.fileio import get
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

# Border colours of the contact sheet (RGB).
CORRECT_COLOUR = (40, 170, 60)
MISTAKE_COLOUR = (220, 40, 40)


def upscale_factor(height: int, width: int, min_side: int) -> int:
    """The integer factor that brings the short side of an image to at
    least ``min_side`` pixels (1 for images that are large enough)."""
    return max(1, math.ceil(min_side / max(1, min(height, width))))


def _resize_masks(masks, size: Tuple[int, int]):
    """Nearest-neighbour resize of ``(N, H, W)`` masks: tensors, or mmdet's
    ``BitmapMasks``/``PolygonMasks``."""
    if isinstance(masks, torch.Tensor):
        resized = F.interpolate(
            masks[None].float(), size=size, mode='nearest')[0]
        return resized.to(masks.dtype)
    return masks.resize(size)


def scale_det_sample(sample, factor: int):
    """A copy of a ``DetDataSample`` whose boxes and masks (predicted and
    ground truth) are scaled by ``factor``."""
    sample = sample.clone()
    h, w = sample.ori_shape[:2]
    size = (h * factor, w * factor)
    for field in ('pred_instances', 'gt_instances'):
        instances = sample.get(field)
        if instances is None:
            continue
        if 'bboxes' in instances:
            instances.bboxes = instances.bboxes * factor
        if 'masks' in instances:
            instances.masks = _resize_masks(instances.masks, size)
    return sample


def scale_seg_sample(sample, factor: int):
    """A copy of a ``SegDataSample`` whose label maps are scaled by
    ``factor`` (nearest neighbour)."""
    from mmengine.structures import PixelData
    sample = sample.clone()
    for field in ('pred_sem_seg', 'gt_sem_seg'):
        pixels = sample.get(field)
        if pixels is None:
            continue
        data = pixels.data
        # A new PixelData: an existing one keeps its shape.
        sample.set_field(
            PixelData(data=F.interpolate(
                data[None].float(), scale_factor=factor,
                mode='nearest')[0].to(data.dtype)), field)
    return sample


def det_correct(sample, score_thr: float, iou_thr: float = 0.5) -> bool:
    """Every ground-truth object is found (a prediction of its class with
    IoU >= ``iou_thr``) and every prediction above ``score_thr`` matches an
    object."""
    from mmdet.structures.bbox import bbox_overlaps
    gt = sample.gt_instances
    pred = sample.pred_instances
    keep = pred.scores >= score_thr
    boxes, labels = pred.bboxes[keep], pred.labels[keep]
    if len(gt) == 0 or len(boxes) == 0:
        return len(gt) == len(boxes)
    ious = bbox_overlaps(gt.bboxes.to(boxes), boxes)
    hits = (ious >= iou_thr) & (gt.labels[:, None].to(labels) == labels[None])
    return bool(hits.any(1).all() and hits.any(0).all())


def seg_miou(sample, num_classes: int, ignore_index: int = 255) -> float:
    """The mean IoU of one picture over the classes in its ground truth or
    its prediction."""
    pred = sample.pred_sem_seg.data.flatten()
    gt = sample.gt_sem_seg.data.flatten().to(pred)
    valid = gt != ignore_index
    pred, gt = pred[valid], gt[valid]
    ious = []
    for c in range(num_classes):
        p, g = pred == c, gt == c
        union = (p | g).sum().item()
        if union:
            ious.append((p & g).sum().item() / union)
    return float(np.mean(ious)) if ious else 1.0


def select_for_sheet(correct: Sequence[bool], size: int) -> List[int]:
    """Indices of at most ``size`` pictures for the contact sheet, in
    order: up to half of them mistakes (spread over the mistakes), the rest
    spread evenly over all pictures."""
    def spread(indices, n):
        if n >= len(indices):
            return list(indices)
        step = len(indices) / n
        return [indices[int(i * step)] for i in range(n)]

    mistakes = [i for i, ok in enumerate(correct) if not ok]
    chosen = set(spread(mistakes, min(len(mistakes), size // 2)))
    rest = [i for i in range(len(correct)) if i not in chosen]
    chosen.update(spread(rest, size - len(chosen)))
    return sorted(chosen)


def contact_sheet(pictures: Sequence[np.ndarray],
                  correct: Sequence[bool],
                  columns: int = 4,
                  cell: int = 256,
                  border: int = 6) -> np.ndarray:
    """Lay ``pictures`` (RGB arrays) out on a grid of ``cell``-pixel-high
    tiles, each framed green (correct) or red (mistake)."""
    if not pictures:
        raise ValueError('contact_sheet needs at least one picture.')
    tiles = []
    for picture, ok in zip(pictures, correct):
        h, w = picture.shape[:2]
        width = max(1, round(w * cell / h))
        tile = mmcv.imresize(picture, (width, cell), interpolation='nearest')
        framed = np.empty((cell + 2 * border, width + 2 * border, 3),
                          dtype=np.uint8)
        framed[:] = CORRECT_COLOUR if ok else MISTAKE_COLOUR
        framed[border:-border, border:-border] = tile
        tiles.append(framed)
    tile_w = max(t.shape[1] for t in tiles)
    rows = math.ceil(len(tiles) / columns)
    sheet = np.full((rows * tiles[0].shape[0], columns * tile_w, 3), 255,
                    dtype=np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        y, x = r * tile.shape[0], c * tile_w
        sheet[y:y + tile.shape[0], x:x + tile.shape[1]] = tile
    return sheet


@HOOKS.register_module()
class PredictionPicturesHook(Hook):
    """Save readable pictures of the test predictions and a contact sheet.

    For every ``interval``-th test sample, and every sample whose prediction
    is wrong, the image is read from its file,
    enlarged by an integer factor until its short side has at least
    ``min_side`` pixels (``dense_min_side`` for detection and segmentation,
    whose visualizers size the labels by the objects' areas: 64x64 demo
    images become 256x256, 128x128 ones 512x512; COCO-size images stay as
    they are) and drawn with the toolbox's own visualizer:
    mmpretrain's label and score, mmdet's boxes and masks with class names
    (ground truth beside the prediction), mmseg's overlays (ground truth
    beside the prediction). ``sheet_size`` of them also go into
    ``contact_sheet.png`` in ``out_dir`` (up to half of it mistakes, the
    rest spread evenly over the test set, in test order), framed green where
    the prediction is right and red where it is not. Right means: the top-1
    label (classification); all objects found and nothing else above
    ``score_thr`` (detection); a per-picture mIoU of at least ``miou_thr``
    (segmentation).

    Registered in mmengine's root registry, so it builds in every scope;
    ``tools/test.py --show-dir DIR`` uses it.

    Args:
        out_dir (str): Where the pictures go; relative paths are under the
            runner's work dir.
        interval (int): Draw every ``interval``-th sample. Defaults to 1.
        min_side (int): Enlarge classification pictures to at least this
            short side. Defaults to 256.
        dense_min_side (int): The same for detection and segmentation.
            Defaults to 512.
        sheet_size (int): Pictures on the contact sheet. Defaults to 16.
        score_thr (float): Detection score threshold for drawing and for
            "right". Defaults to 0.3.
        miou_thr (float): Segmentation mIoU from which a picture is "right".
            Defaults to 0.5.
    """

    def __init__(self,
                 out_dir: str,
                 interval: int = 1,
                 min_side: int = 256,
                 dense_min_side: int = 512,
                 sheet_size: int = 16,
                 score_thr: float = 0.3,
                 miou_thr: float = 0.5):
        if min(interval, sheet_size, min_side, dense_min_side) < 1:
            raise ValueError('interval, sheet_size, min_side and '
                             'dense_min_side must be positive.')
        self.out_dir = out_dir
        self.interval = interval
        self.min_side = min_side
        self.dense_min_side = dense_min_side
        self.sheet_size = sheet_size
        self.score_thr = score_thr
        self.miou_thr = miou_thr
        self._index = 0
        self._drawn: List[Tuple[str, bool]] = []
        self.sheet_path: Optional[str] = None

    def before_test(self, runner) -> None:
        if not osp.isabs(self.out_dir):
            self.out_dir = osp.join(runner.work_dir, self.out_dir)
        os.makedirs(self.out_dir, exist_ok=True)
        self._index = 0
        self._drawn = []

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs: Optional[Sequence] = None) -> None:
        for sample in outputs or ():
            index = self._index
            self._index += 1
            correct = self._is_correct(runner, sample)
            if index % self.interval and correct:
                continue
            if 'img_path' not in sample:
                # Pictures are drawn from the image files.
                runner.logger.warning(
                    'PredictionPicturesHook: a test sample has no img_path; '
                    'it is not drawn.')
                continue
            name = osp.splitext(osp.basename(sample.img_path))[0]
            out_file = osp.join(self.out_dir, f'{name}.png')
            self._draw(runner, sample, name, out_file)
            self._drawn.append((out_file, correct))

    def after_test_epoch(self, runner, metrics=None) -> None:
        if not self._drawn:
            return
        chosen = select_for_sheet([ok for _, ok in self._drawn],
                                  self.sheet_size)
        pictures = [mmcv.imread(self._drawn[i][0], channel_order='rgb')
                    for i in chosen]
        correct = [self._drawn[i][1] for i in chosen]
        self.sheet_path = osp.join(self.out_dir, 'contact_sheet.png')
        sheet = contact_sheet(pictures, correct, min(4, len(pictures)))
        mmcv.imwrite(sheet[..., ::-1], self.sheet_path)
        right = sum(ok for _, ok in self._drawn)
        runner.logger.info(
            f'Saved {len(self._drawn)} prediction pictures ({right} right) '
            f'and the contact sheet {self.sheet_path}.')

    def _is_correct(self, runner, sample) -> bool:
        """Whether a prediction is right (see the class docstring)."""
        if 'pred_instances' in sample:  # mmdet
            return det_correct(sample, self.score_thr)
        if 'pred_sem_seg' in sample:  # mmseg
            classes = runner.visualizer.dataset_meta.get('classes', ())
            return 'gt_sem_seg' in sample and seg_miou(
                sample, len(classes)) >= self.miou_thr
        return int(sample.pred_label[0]) == int(sample.gt_label[0])

    def _draw(self, runner, sample, name: str, out_file: str) -> None:
        """Draw the picture into ``out_file`` with the toolbox's visualizer
        (given a file, none of them also sends it to the vis backends)."""
        visualizer = runner.visualizer
        image = mmcv.imfrombytes(get(sample.img_path), channel_order='rgb')
        dense = 'pred_instances' in sample or 'pred_sem_seg' in sample
        factor = upscale_factor(
            *image.shape[:2], self.dense_min_side if dense else self.min_side)
        if 'pred_instances' in sample:  # mmdet
            big = mmcv.imrescale(image, factor, interpolation='nearest')
            visualizer.add_datasample(
                name, big, data_sample=scale_det_sample(sample, factor),
                draw_gt='gt_instances' in sample,
                pred_score_thr=self.score_thr, out_file=out_file)
        elif 'pred_sem_seg' in sample:  # mmseg
            big = mmcv.imrescale(image, factor, interpolation='nearest')
            visualizer.add_datasample(
                name, big, data_sample=scale_seg_sample(sample, factor),
                draw_gt='gt_sem_seg' in sample, out_file=out_file)
        else:  # mmpretrain: the visualizer enlarges the picture itself
            visualizer.visualize_cls(
                image, sample, rescale_factor=factor, name=name,
                out_file=out_file)
