# Semantic FPN on ADE20K with the released HVT-S-0 weights (no pooling): see
# fpn_hvt-s-1_8xb2-80k_ade20k-512x512.py.
_base_ = './fpn_hvt-s-1_8xb2-80k_ade20k-512x512.py'

# Converted from the official hvt_s_0.pth (GitHub release v1.0).
checkpoint_file = 'work_dirs/hvt-s-0_3rdparty_in1k.pth'
model = dict(
    backbone=dict(arch='s-0', init_cfg=dict(checkpoint=checkpoint_file)))
