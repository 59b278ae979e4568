_base_ = './fpn_hat-net-tiny_8xb2-80k_ade20k-512x512.py'

# The official ImageNet weights (hat-net-medium_3rdparty_in1k in the model zoo),
# converted while they load; a local copy of the file, or a converted
# or trained checkpoint, works too.
checkpoint_file = ('https://github.com/yun-liu/HAT-Net/releases/download/v2.0/'
                   'HAT-Net_Medium.pth')

model = dict(
    backbone=dict(
        arch='medium',
        init_cfg=dict(
            type='Pretrained', checkpoint=checkpoint_file,
            prefix='backbone.')),
    neck=dict(in_channels=[64, 128, 320, 512]))
