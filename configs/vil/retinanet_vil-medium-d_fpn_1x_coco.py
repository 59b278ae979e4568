# RetinaNet 1x with ViL-Medium-D: the recipe of
# retinanet_vil-tiny_fpn_1x_coco.py with drop path 0.2 (official README table).
# The official ViL-Medium-D detectors start from an ImageNet-21k checkpoint
# (not released in a loadable form); any ViL-Medium-D classifier checkpoint
# loads here.
_base_ = './retinanet_vil-tiny_fpn_1x_coco.py'

# The official ImageNet weights (vil-medium-d_3rdparty_in1k in the model zoo),
# converted while they load; a local copy of the file, or a converted
# or trained checkpoint, works too.
checkpoint_file = ('https://penzhanwu2.blob.core.windows.net/imagenet/msvit/'
                   'visionlongformer/'
                   'longdeepmedium_ape0_exact0_mode1_switch075/model_best.pth')

model = dict(
    backbone=dict(
        arch='medium-d',
        drop_path_rate=0.2,
        init_cfg=dict(checkpoint=checkpoint_file)),
    neck=dict(in_channels=[192, 384, 768]))
