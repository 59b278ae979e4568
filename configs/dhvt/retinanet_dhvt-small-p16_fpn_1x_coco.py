# RetinaNet 1x with an ImageNet-pretrained DHVT-S.
_base_ = './retinanet_dhvt-tiny-p16_fpn_1x_coco.py'

# DHVT published no weights: see _base_/dhvt-tiny-p16_dense.py.
checkpoint_file = 'work_dirs/dhvt-small-p16_4xb128_in1k/epoch_300.pth'
model = dict(
    backbone=dict(
        arch='small-in1k-p16',
        init_cfg=dict(checkpoint=checkpoint_file)),
    neck=dict(in_channels=[384, 384, 384]))
