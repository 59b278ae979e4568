# A tiny Semantic FPN on DHVT (the contract tests' arch, four classes, a
# narrow neck and head), for the deployment tool's test: the model is what
# is exported; nothing here is trained.
_base_ = ['../../../configs/dhvt/fpn_dhvt-tiny-p16_8xb2-80k_ade20k-512x512.py']

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True, embed_dims=32, num_layers=4, num_heads=2, patch_size=16),
        out_indices=(0, 1, 2, 3),
        init_cfg=None),
    neck=dict(in_channels=[32, 32, 32, 32], out_channels=32),
    decode_head=dict(
        num_classes=4, in_channels=[32, 32, 32, 32], channels=32))
