# Mask R-CNN 1x with ViL-Base-D: the recipe of
# mask-rcnn_vil-tiny_fpn_1x_coco.py with drop path 0.3 (official README table).
# The official ViL-Base-D detectors start from an ImageNet-21k checkpoint (not
# released in a loadable form); any ViL-Base-D classifier checkpoint loads
# here.
_base_ = './mask-rcnn_vil-tiny_fpn_1x_coco.py'

# No official ImageNet-1k ViL-Base-D weights exist: pre-train with
# configs/vil/vil-base-d_8xb128_in1k.py first (or point this at a
# ViL-Base-D classifier checkpoint of your own).
checkpoint_file = 'work_dirs/vil-base-d_8xb128_in1k/epoch_300.pth'

model = dict(
    backbone=dict(
        arch='base-d',
        drop_path_rate=0.3,
        init_cfg=dict(checkpoint=checkpoint_file)),
    neck=dict(in_channels=[96, 192, 384, 768]))
