# Mask R-CNN 1x with ViL-Small: the recipe of mask-rcnn_vil-tiny_fpn_1x_coco.py
# with drop path 0.2 (official README table).
_base_ = './mask-rcnn_vil-tiny_fpn_1x_coco.py'

checkpoint_file = 'work_dirs/vil-small_3rdparty_in1k.pth'

model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.2,
        init_cfg=dict(checkpoint=checkpoint_file)),
    neck=dict(in_channels=[96, 192, 384, 768]))
