# Semantic FPN on ADE20K with ViL-Small: the recipe of
# fpn_vil-tiny_8xb2-80k_ade20k-512x512.py (no official number exists).
_base_ = './fpn_vil-tiny_8xb2-80k_ade20k-512x512.py'

# The official ImageNet weights (vil-small_3rdparty_in1k in the model zoo),
# converted while they load; a local copy of the file, or a converted
# or trained checkpoint, works too.
checkpoint_file = ('https://penzhanwu2.blob.core.windows.net/imagenet/msvit/'
                   'visionlongformer/small1281_relative/model_best.pth')

model = dict(
    backbone=dict(
        arch='small', drop_path_rate=0.2,
        init_cfg=dict(checkpoint=checkpoint_file)),
    neck=dict(in_channels=[96, 192, 384, 768]))
