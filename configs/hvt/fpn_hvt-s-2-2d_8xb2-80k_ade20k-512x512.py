# Semantic FPN on ADE20K with HVT-S-2 (2D) (paper Table 9): native stride-8 /
# 16 / 32 maps from blocks 0 / 6 / 11 and a deconvolved stride-4 level.
_base_ = './fpn_hvt-s-1_8xb2-80k_ade20k-512x512.py'

# No weights are released for this model: pre-train it on ImageNet-1k with
# configs/hvt/hvt-s-2-2d_8xb128_in1k.py first.
checkpoint_file = 'work_dirs/hvt-s-2-2d_8xb128_in1k/epoch_300.pth'
model = dict(
    backbone=dict(
        arch='s-2-2d',
        out_indices=(0, 0, 6, 11),
        pyramid_scales=(2, 1, 1, 1),
        init_cfg=dict(checkpoint=checkpoint_file)))
