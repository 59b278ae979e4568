# Mask R-CNN 1x on COCO with the released HVT-S-0 weights (no pooling): see
# mask-rcnn_hvt-s-1_fpn_1x_coco.py.
_base_ = './mask-rcnn_hvt-s-1_fpn_1x_coco.py'

# Converted from the official hvt_s_0.pth (GitHub release v1.0).
checkpoint_file = 'work_dirs/hvt-s-0_3rdparty_in1k.pth'
model = dict(
    backbone=dict(arch='s-0', init_cfg=dict(checkpoint=checkpoint_file)))
