_base_ = './fpn_hat-net-tiny_8xb2-80k_ade20k-512x512.py'

# tools/model_converters/hat_net_to_mmpretrain.py HAT-Net_Medium.pth <this path>
checkpoint_file = 'work_dirs/hat-net-medium_3rdparty_in1k.pth'

model = dict(
    backbone=dict(
        arch='medium',
        init_cfg=dict(
            type='Pretrained', checkpoint=checkpoint_file,
            prefix='backbone.')),
    neck=dict(in_channels=[64, 128, 320, 512]))
