# RetinaNet 1x on COCO with HVT-S-2 (2D) (paper Table 9): patch 8, 2-D
# max-pooling after blocks 0 and 6, so blocks 0 / 6 / 11 give native
# stride-8 / 16 / 32 maps, fed to the FPN as P3-P5 (P6-P7 from the input).
_base_ = './retinanet_hvt-s-1_fpn_1x_coco.py'

# No weights are released for this model: pre-train it on ImageNet-1k with
# configs/hvt/hvt-s-2-2d_8xb128_in1k.py first.
checkpoint_file = 'work_dirs/hvt-s-2-2d_8xb128_in1k/epoch_300.pth'
model = dict(
    backbone=dict(
        arch='s-2-2d',
        out_indices=(0, 6, 11),
        pyramid_scales=None,
        init_cfg=dict(checkpoint=checkpoint_file)))
