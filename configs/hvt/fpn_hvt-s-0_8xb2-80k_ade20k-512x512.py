# Semantic FPN on ADE20K with the released HVT-S-0 weights (no pooling): see
# fpn_hvt-s-1_8xb2-80k_ade20k-512x512.py.
_base_ = './fpn_hvt-s-1_8xb2-80k_ade20k-512x512.py'

# The official ImageNet weights (hvt-s-0_3rdparty_in1k in the model zoo),
# converted while they load; a local copy of the file, or a converted
# or trained checkpoint, works too.
checkpoint_file = ('https://github.com/zhuang-group/HVT/releases/download/'
                   'v1.0/hvt_s_0.pth')
model = dict(
    backbone=dict(arch='s-0', init_cfg=dict(checkpoint=checkpoint_file)))
