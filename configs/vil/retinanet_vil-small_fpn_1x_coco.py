# RetinaNet 1x with ViL-Small: the recipe of retinanet_vil-tiny_fpn_1x_coco.py
# with drop path 0.1 (official README table).
_base_ = './retinanet_vil-tiny_fpn_1x_coco.py'

# The official ImageNet weights (vil-small_3rdparty_in1k in the model zoo),
# converted while they load; a local copy of the file, or a converted
# or trained checkpoint, works too.
checkpoint_file = ('https://penzhanwu2.blob.core.windows.net/imagenet/msvit/'
                   'visionlongformer/small1281_relative/model_best.pth')

model = dict(
    backbone=dict(
        arch='small',
        drop_path_rate=0.1,
        init_cfg=dict(checkpoint=checkpoint_file)),
    neck=dict(in_channels=[192, 384, 768]))
