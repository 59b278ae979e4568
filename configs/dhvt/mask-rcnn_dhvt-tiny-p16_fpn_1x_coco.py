# Mask R-CNN 1x with an ImageNet-pretrained DHVT-T. DHVT is plain (stride
# 16), so the backbone builds strides 4/8/16/32 itself from blocks 3, 5, 7
# and 11 (deconv x4, deconv x2, identity, max-pool; XCiT/ViTDet style) and
# the stock FPN is used unchanged.
_base_ = [
    'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
    './_base_/dhvt-tiny-p16_dense.py',
]

model = dict(
    backbone=_base_.backbone,
    neck=dict(in_channels=[192, 192, 192, 192]))

# AdamW as for other transformer backbones (Swin, XCiT); norms, biases and
# the class token are not decayed (as in DHVT's ImageNet training).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        _delete_=True,
        type='AdamW',
        lr=1e-4,
        betas=(0.9, 0.999),
        weight_decay=0.05),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={'.cls_token': dict(decay_mult=0.0)}))
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
