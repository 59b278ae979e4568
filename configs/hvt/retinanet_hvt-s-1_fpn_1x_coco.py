# RetinaNet 1x on COCO with the released HVT-S-1 weights (1-D pooling).
# The backbone stretches the outputs of blocks 5, 7 and 11 back to the
# stride-16 patch grid (paper Fig. 3) and rescales them x2 / x1 / x0.5 to
# strides 8/16/32; RetinaNet uses P3-P7, so no stride-4 level is built (an
# unused level would leave parameters without gradients under DDP).
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    'mmdet::_base_/datasets/coco_detection.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
    './_base_/hvt-s-1_dense.py',
]

model = dict(
    backbone=dict(
        _base_.backbone, out_indices=(5, 7, 11), pyramid_scales=(2, 1, 0.5)),
    neck=dict(in_channels=[384, 384, 384], start_level=0, num_outs=5))

# AdamW fine-tuning as for Swin/PVT; no weight decay on position embeddings
# and 1-D parameters (biases, norms).
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
