# Mask R-CNN 1x on COCO with the released HVT-S-1 weights (1-D pooling).
# The outputs of blocks 3, 5, 7 and 11 are stretched back to the stride-16
# patch grid (paper Fig. 3) and rescaled x4 / x2 / x1 / x0.5 to strides
# 4/8/16/32 with the simple pyramid (deconv-BN-GELU-deconv, deconv, identity,
# max-pool), XCiT/ViTDet style.
_base_ = [
    'mmdet::_base_/models/mask-rcnn_r50_fpn.py',
    'mmdet::_base_/datasets/coco_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
    './_base_/hvt-s-1_dense.py',
]

model = dict(
    backbone=_base_.backbone,
    neck=dict(in_channels=[384, 384, 384, 384]))

optim_wrapper = dict(
    optimizer=dict(
        _delete_=True,
        type='AdamW',
        lr=0.0001,
        betas=(0.9, 0.999),
        weight_decay=0.05),
    paramwise_cfg=dict(
        flat_decay_mult=0.0, custom_keys={'.pos_embed': dict(decay_mult=0.)}))
param_scheduler = [
    dict(
        type='LinearLR', start_factor=0.001, by_epoch=False, begin=0,
        end=1000),
    dict(
        type='MultiStepLR',
        begin=0,
        end=12,
        by_epoch=True,
        milestones=[8, 11],
        gamma=0.1)
]
