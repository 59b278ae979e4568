# Mask R-CNN 1x on COCO with HVT-S-2 (2D) (paper Table 9): blocks 0 / 6 / 11
# give native stride-8 / 16 / 32 maps; a transposed convolution on the
# block-0 map adds the stride-4 level.
_base_ = './mask-rcnn_hvt-s-1_fpn_1x_coco.py'

# No weights are released for this model: pre-train it on ImageNet-1k with
# configs/hvt/hvt-s-2-2d_8xb128_in1k.py first.
checkpoint_file = 'work_dirs/hvt-s-2-2d_8xb128_in1k/epoch_300.pth'
model = dict(
    backbone=dict(
        arch='s-2-2d',
        out_indices=(0, 0, 6, 11),
        pyramid_scales=(2, 1, 1, 1),
        init_cfg=dict(checkpoint=checkpoint_file)))
