# RetinaNet 1x with ViL-Medium-D: the recipe of
# retinanet_vil-tiny_fpn_1x_coco.py with drop path 0.2 (official README table).
# The official ViL-Medium-D detectors start from an ImageNet-21k checkpoint
# (not released in a loadable form); any ViL-Medium-D classifier checkpoint
# loads here.
_base_ = './retinanet_vil-tiny_fpn_1x_coco.py'

checkpoint_file = 'work_dirs/vil-medium-d_3rdparty_in1k.pth'

model = dict(
    backbone=dict(
        arch='medium-d',
        drop_path_rate=0.2,
        init_cfg=dict(checkpoint=checkpoint_file)),
    neck=dict(in_channels=[192, 384, 768]))
