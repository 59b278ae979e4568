"""A small synthetic dataset ("shapes on textured backgrounds") for the demo.

Everything is drawn deterministically from a seed, so the demo needs no
download and gives the same data on every machine. Three layouts are
written, each in a format the toolboxes already read:

``cls/``
    ImageNet-style folders ``cls/{train,val}/<class>/<name>.png`` with one
    shape per image (mmpretrain ``CustomDataset``).
``det/``
    ``det/{train,val}/*.png`` plus COCO files ``det/annotations/
    instances_{train,val}.json`` with boxes and polygon masks of one to four
    shapes per image (mmdet ``CocoDataset``).
``seg/``
    ADE20K-style pairs ``seg/img_dir/{train,val}/<name>.png`` and
    ``seg/ann_dir/{train,val}/<name>.png`` whose label PNG holds 0 for the
    background and ``k`` for a pixel of class ``k`` (mmseg
    ``BaseSegDataset`` with ``reduce_zero_label=False``).

The classes are :data:`CLASSES`. Backgrounds are random stripes,
checkerboards or blobs between two nearby random colours plus noise. Each
shape is filled with a colour near its class's hue (:data:`CLASS_HUES`:
circles reddish, squares bluish, triangles greenish, crosses yellowish) with
random saturation and brightness, far from its background. The class hue is
a deliberate second cue: transformers trained from scratch on a few
thousand images need far more than the demo's minutes of CPU time to learn
shape alone (measured: HAT-Net-Tiny, ViL-Tiny and DHVT-T stayed at chance
after 8 epochs of 1,000 shape-only images, where a small CNN reached 87%),
and the demo is meant to show training working end to end, not to be a
benchmark.
"""
import json
import math
import os
import os.path as osp
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ('circle', 'square', 'triangle', 'cross')
SEG_CLASSES = ('background', ) + CLASSES
PALETTE = [(0, 0, 0), (220, 20, 60), (0, 130, 200), (60, 180, 75),
           (255, 225, 25)]

#: split -> number of images, per layout (classification: per class).
DEFAULT_SIZES = dict(
    cls=dict(train=500, val=50, image=64),
    det=dict(train=300, val=60, image=128),
    seg=dict(train=300, val=60, image=128))


def _texture(rng: np.random.RandomState, h: int, w: int) -> np.ndarray:
    """A random textured background, uint8 (h, w, 3): a pattern between
    two nearby colours plus noise (clutter, but less contrast than a
    shape has against it)."""
    base = rng.randint(0, 256, size=3)
    other = np.clip(base + rng.randint(-60, 61, size=3), 0, 255)
    yy, xx = np.mgrid[0:h, 0:w]
    kind = rng.randint(3)
    if kind == 0:  # stripes at a random angle
        angle = rng.uniform(0, math.pi)
        period = rng.uniform(4, 16)
        t = (np.cos(angle) * xx + np.sin(angle) * yy) / period
        weight = (np.sin(2 * math.pi * t) > 0).astype(np.float32)
    elif kind == 1:  # checkerboard
        cell = rng.randint(4, 16)
        weight = ((yy // cell + xx // cell) % 2).astype(np.float32)
    else:  # smooth blobs
        coarse = rng.rand(max(2, h // 16), max(2, w // 16))
        weight = np.array(
            Image.fromarray((coarse * 255).astype(np.uint8)).resize(
                (w, h), Image.BILINEAR), dtype=np.float32) / 255.
    img = base[None, None] * (1 - weight[..., None]) + \
        other[None, None] * weight[..., None]
    img = img + rng.normal(0, 8, size=(h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _polygon(label: int, cx: float, cy: float, r: float,
             angle: float) -> List[Tuple[float, float]]:
    """The outline of shape ``label`` centred at (cx, cy), radius r."""
    name = CLASSES[label]
    if name == 'circle':
        pts = [(math.cos(t), math.sin(t))
               for t in np.linspace(0, 2 * math.pi, 24, endpoint=False)]
    elif name == 'square':
        pts = [(-0.75, -0.75), (0.75, -0.75), (0.75, 0.75), (-0.75, 0.75)]
    elif name == 'triangle':
        pts = [(math.cos(t), math.sin(t))
               for t in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
    else:  # cross
        a, b = 0.3, 1.0
        pts = [(-a, -b), (a, -b), (a, -a), (b, -a), (b, a), (a, a), (a, b),
               (-a, b), (-a, a), (-b, a), (-b, -a), (-a, -a)]
    if name == 'circle':
        angle = 0.
    cos, sin = math.cos(angle), math.sin(angle)
    return [(cx + r * (x * cos - y * sin), cy + r * (x * sin + y * cos))
            for x, y in pts]


#: Each class draws its colour around its own hue (red, blue, green,
#: yellow). See the module docstring for why.
CLASS_HUES = (0.0, 0.62, 0.33, 0.15)


def _shape_colour(rng: np.random.RandomState, label: int,
                  background: np.ndarray) -> Tuple[int, int, int]:
    """A colour near the class's hue and far from the background's mean."""
    mean = background.reshape(-1, 3).mean(0)
    while True:
        hue = (CLASS_HUES[label] + rng.uniform(-0.06, 0.06)) % 1.0
        hsv = np.array([[[hue * 255, rng.uniform(0.5, 1.) * 255,
                          rng.uniform(0.45, 1.) * 255]]], dtype=np.uint8)
        colour = np.asarray(Image.fromarray(hsv, 'HSV').convert('RGB'))[0, 0]
        if np.abs(colour.astype(int) - mean).sum() > 150:
            return tuple(int(c) for c in colour)


def _draw_scene(rng: np.random.RandomState, size: int, num_shapes: int,
                labels=None) -> Tuple[np.ndarray, List[dict], np.ndarray]:
    """Draw shapes that do not overlap; return the image, the instances
    (label, polygon, box) and the semantic label map."""
    img = Image.fromarray(_texture(rng, size, size))
    seg = Image.new('L', (size, size), 0)
    background = np.asarray(img)
    instances, placed = [], []
    attempts = 0
    while len(instances) < num_shapes and attempts < 100:
        attempts += 1
        label = int(labels[len(instances)]) if labels is not None else \
            int(rng.randint(len(CLASSES)))
        r = rng.uniform(0.12, 0.3) * size if num_shapes > 1 else \
            rng.uniform(0.25, 0.4) * size
        cx = rng.uniform(r, size - r)
        cy = rng.uniform(r, size - r)
        if any(math.hypot(cx - x, cy - y) < r + pr + 2 for x, y, pr in placed):
            continue
        polygon = _polygon(label, cx, cy, r, rng.uniform(0, 2 * math.pi))
        ImageDraw.Draw(img).polygon(
            polygon, fill=_shape_colour(rng, label, background))
        ImageDraw.Draw(seg).polygon(polygon, fill=label + 1)
        xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
        box = [max(0., min(xs)), max(0., min(ys)),
               min(float(size), max(xs)), min(float(size), max(ys))]
        instances.append(dict(label=label, polygon=polygon, box=box))
        placed.append((cx, cy, r))
    return np.asarray(img), instances, np.asarray(seg)


def _save_png(array: np.ndarray, path: str) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path)


def make_classification(root: str, rng: np.random.RandomState,
                        sizes: dict) -> Dict[str, int]:
    counts = {}
    for split in ('train', 'val'):
        n = 0
        for label, name in enumerate(CLASSES):
            for i in range(sizes[split]):
                img, _, _ = _draw_scene(rng, sizes['image'], 1, [label])
                _save_png(img,
                          osp.join(root, split, name, f'{name}_{i:04d}.png'))
                n += 1
        counts[split] = n
    return counts


def make_detection(root: str, rng: np.random.RandomState,
                   sizes: dict) -> Dict[str, int]:
    counts = {}
    size = sizes['image']
    for split in ('train', 'val'):
        images, annotations = [], []
        for i in range(sizes[split]):
            img, instances, _ = _draw_scene(rng, size, rng.randint(1, 5))
            file_name = f'{i:05d}.png'
            _save_png(img, osp.join(root, split, file_name))
            images.append(
                dict(id=i, file_name=file_name, height=size, width=size))
            for inst in instances:
                x1, y1, x2, y2 = inst['box']
                flat = [round(c, 2) for p in inst['polygon'] for c in p]
                annotations.append(
                    dict(
                        id=len(annotations) + 1,
                        image_id=i,
                        category_id=inst['label'] + 1,
                        bbox=[round(x1, 2), round(y1, 2), round(x2 - x1, 2),
                              round(y2 - y1, 2)],
                        area=round(_polygon_area(inst['polygon']), 2),
                        segmentation=[flat],
                        iscrowd=0))
        coco = dict(
            images=images,
            annotations=annotations,
            categories=[
                dict(id=k + 1, name=name) for k, name in enumerate(CLASSES)
            ])
        ann_file = osp.join(root, 'annotations', f'instances_{split}.json')
        os.makedirs(osp.dirname(ann_file), exist_ok=True)
        with open(ann_file, 'w') as f:
            json.dump(coco, f)
        counts[split] = len(images)
        counts[f'{split}_instances'] = len(annotations)
    return counts


def _polygon_area(polygon) -> float:
    xs = np.array([p[0] for p in polygon])
    ys = np.array([p[1] for p in polygon])
    return float(0.5 * abs(np.dot(xs, np.roll(ys, 1)) -
                           np.dot(ys, np.roll(xs, 1))))


def make_segmentation(root: str, rng: np.random.RandomState,
                      sizes: dict) -> Dict[str, int]:
    counts = {}
    for split in ('train', 'val'):
        for i in range(sizes[split]):
            img, _, seg = _draw_scene(rng, sizes['image'], rng.randint(1, 5))
            _save_png(img, osp.join(root, 'img_dir', split, f'{i:05d}.png'))
            _save_png(seg, osp.join(root, 'ann_dir', split, f'{i:05d}.png'))
        counts[split] = sizes[split]
    return counts


def make_demo_data(root: str = 'data/demo',
                   seed: int = 0,
                   tasks=('cls', 'det', 'seg'),
                   sizes: dict = None) -> dict:
    """Write the demo dataset under ``root``; return the counts written.

    Each task draws from its own generator seeded with ``seed`` and the
    task's index, so a task's data do not depend on which others are made.
    """
    sizes = sizes or DEFAULT_SIZES
    makers = dict(cls=make_classification, det=make_detection,
                  seg=make_segmentation)
    summary = {}
    for task in tasks:
        if task not in makers:
            raise ValueError(f'Unknown demo task {task!r}; choose from '
                             f'{sorted(makers)}.')
        rng = np.random.RandomState(seed * 1000 + list(makers).index(task))
        summary[task] = makers[task](
            osp.join(root, task), rng, sizes[task])
    with open(osp.join(root, 'README.txt'), 'w') as f:
        f.write('Synthetic demo data written by '
                'tools/dataset_converters/make_demo_data.py '
                f'(seed {seed}). Counts: {json.dumps(summary)}\n')
    return summary


def demo_data_options(task: str, root: str) -> List[str]:
    """``--cfg-options`` that point a demo config's loaders (and COCO
    evaluators) at demo data written by ``make_demo_data(root)``.

    Args:
        task (str): ``'cls'``, ``'det'`` or ``'seg'``.
        root (str): the ``root`` given to :func:`make_demo_data`.

    Returns:
        list[str]: ``key=value`` words for ``tools/train.py
        --cfg-options``.
    """
    data_root = osp.join(root, task) + ('/' if task == 'det' else '')
    options = [
        f'{loader}.dataset.data_root={data_root}'
        for loader in ('train_dataloader', 'val_dataloader',
                       'test_dataloader')
    ]
    if task == 'det':
        ann = osp.join(data_root, 'annotations/instances_val.json')
        options += [f'val_evaluator.ann_file={ann}',
                    f'test_evaluator.ann_file={ann}']
    return options
