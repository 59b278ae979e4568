# A tiny RetinaNet on HAT-Net (the contract tests' arch, four classes, a
# narrow neck and head), for the deployment tool's test: the model is what
# is exported; nothing here is trained.
_base_ = ['../../../configs/hat_net/retinanet_hat-net-tiny_fpn_1x_coco.py']

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,
            embed_dims=[16, 32, 48, 64],
            depths=[1, 1, 2, 1],
            head_dim=16,
            mlp_ratios=[2, 2, 2, 2],
            kernel_sizes=[3, 3, 3, 3]),
        init_cfg=None),
    neck=dict(in_channels=[32, 48, 64], out_channels=32),
    bbox_head=dict(
        num_classes=4, in_channels=32, feat_channels=32, stacked_convs=1))
