# The DHVT-T backbone of every DHVT detection and segmentation config
# (RetinaNet, Mask R-CNN, Semantic FPN). DHVT is plain (stride 16), so the
# backbone builds strides 4/8/16/32 itself from blocks 3, 5, 7 and 11 (deconv
# x4, deconv x2, identity, max-pool; XCiT/ViTDet style) and the stock FPN is
# used unchanged. A task config takes it as
# `model = dict(backbone=_base_.backbone, ...)`, changing what the task needs
# (e.g. RetinaNet's levels); DHVT-S changes `arch` and the checkpoint.
custom_imports = dict(imports=['vit_backbones'], allow_failed_imports=False)
# Imported while the config is read, too: a task config lists this base
# before any `mmseg::` base, and on the onedl forks those resolve only after
# the package has patched mmengine (vit_backbones/patches.py), which the
# toolboxes' own scripts and inferencers would do too late (after parsing).
# (An import statement would make mmengine read this file as a lazy-import
# config.)
__import__('vit_backbones')

# No official ImageNet weights: DHVT published none (configs/dhvt/README.md).
# Point this at your own: a checkpoint of dhvt-tiny-p16_4xb128_in1k.py, or an
# official main.py file you trained (converted while it loads). Until then
# the run stops with an error naming this path.
checkpoint_file = 'work_dirs/dhvt-tiny-p16_4xb128_in1k/epoch_300.pth'

backbone = dict(
    _delete_=True,
    type='mmpretrain.DHVT',
    arch='tiny-in1k-p16',
    out_type='featmap',
    out_indices=(3, 5, 7, 11),
    pyramid_scales=(4, 2, 1, 0.5),
    drop_path_rate=0.1,
    # BN statistics need more than 2 images: synchronise them
    norm_cfg=dict(type='SyncBN'),
    pyramid_norm_cfg=dict(type='SyncBN'),
    init_cfg=dict(
        type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.'))
