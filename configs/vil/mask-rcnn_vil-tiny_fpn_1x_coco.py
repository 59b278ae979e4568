# Mask R-CNN 1x with ViL-Tiny, after the official detectron2 config
# (VisionLongformerForObjectDetection
# configs/msvit_maskrcnn_fpn_1x_tiny_sparse.yaml): Longformer attention (window
# 7, SW_EXACT=0) in all four stages, one global token in stages 1-3 and none in
# stage 4, relative position bias, no output norms; AdamW lr 2.5e-4, weight
# decay 0.05 on every parameter (the README's value for its results; the yaml
# says 1e-4: configs/vil/README.md), warm-up 1000 iterations from 0.01, full-model
# gradient clipping at 0.5, AMP, batch 16; drop path 0.05 (README table).
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
    './_base_/vil-tiny_dense.py',
]

model = dict(
    backbone=_base_.backbone,
    neck=dict(in_channels=[48, 96, 192, 384]))

optim_wrapper = dict(
    _delete_=True,
    type='AmpOptimWrapper',
    optimizer=dict(type='AdamW', lr=2.5e-4, weight_decay=0.05),
    clip_grad=dict(max_norm=0.5, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=1000),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True,
         milestones=[8, 11], gamma=0.1)
]
