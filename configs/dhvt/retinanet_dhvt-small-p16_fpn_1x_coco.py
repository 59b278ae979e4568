# RetinaNet 1x with an ImageNet-pretrained DHVT-S.
_base_ = './retinanet_dhvt-tiny-p16_fpn_1x_coco.py'

checkpoint_file = 'work_dirs/dhvt-small-p16_3rdparty_in1k.pth'  # placeholder
model = dict(
    backbone=dict(
        arch='small-in1k-p16',
        init_cfg=dict(checkpoint=checkpoint_file)),
    neck=dict(in_channels=[384, 384, 384]))
