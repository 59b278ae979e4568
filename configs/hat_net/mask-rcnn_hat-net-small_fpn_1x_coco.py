_base_ = './mask-rcnn_hat-net-tiny_fpn_1x_coco.py'

# tools/model_converters/hat_net_to_mmpretrain.py HAT-Net_Small.pth <this path>
checkpoint_file = 'work_dirs/hat-net-small_3rdparty_in1k.pth'

model = dict(
    backbone=dict(
        arch='small',
        init_cfg=dict(
            type='Pretrained', checkpoint=checkpoint_file,
            prefix='backbone.')),
    neck=dict(in_channels=[64, 128, 320, 512]))
