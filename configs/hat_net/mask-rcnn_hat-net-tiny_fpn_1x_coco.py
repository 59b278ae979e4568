# Mask R-CNN 1x on COCO with HAT-Net-Tiny, the paper's setting (Sec. 4.3,
# following PVT): ImageNet-pretrained backbone, AdamW lr 1e-4 and weight
# decay 1e-4, 12 epochs with the lr divided by 10 after epochs 8 and 11,
# 8 GPUs x 2 images, single scale 1333x800; G1 = (8, 8, 8) and
# G2 = (16, 8, 4) in the H-MHSA stages.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
    './_base_/hat-net-tiny_dense.py',
]

model = dict(
    backbone=_base_.backbone,
    neck=dict(in_channels=[48, 96, 240, 384]))

optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-4, weight_decay=1e-4))
