# The HVT-S-1 backbone of every HVT detection and segmentation config
# (RetinaNet, Mask R-CNN, Semantic FPN), with the released weights (1-D
# pooling): the outputs of blocks 3, 5, 7 and 11 are stretched back to the
# stride-16 patch grid (paper Fig. 3) and rescaled x4 / x2 / x1 / x0.5 to
# strides 4/8/16/32 by the simple pyramid (deconv-BN-GELU-deconv, deconv,
# identity, max-pool), XCiT/ViTDet style. A task config takes it as
# `model = dict(backbone=_base_.backbone, ...)`, changing what the task needs
# (e.g. RetinaNet's levels); the other variants change `arch` and the
# checkpoint.
custom_imports = dict(imports=['vit_backbones'], allow_failed_imports=False)
# Imported while the config is read, too: a task config lists this base
# before any `mmseg::` base, and on the onedl forks those resolve only after
# the package has patched mmengine (vit_backbones/patches.py), which the
# toolboxes' own scripts and inferencers would do too late (after parsing).
# (An import statement would make mmengine read this file as a lazy-import
# config.)
__import__('vit_backbones')

# The official ImageNet weights (hvt-s-1_3rdparty_in1k in the model zoo),
# converted while they load; a local copy of the file, or a converted
# or trained checkpoint, works too.
checkpoint_file = ('https://github.com/zhuang-group/HVT/releases/download/'
                   'v1.1/hvt_s_1.pth')

backbone = dict(
    _delete_=True,
    type='mmpretrain.HVT',
    arch='s-1',
    img_size=224,
    drop_path_rate=0.1,
    out_type='featmap',
    out_indices=(3, 5, 7, 11),
    pyramid_scales=(4, 2, 1, 0.5),
    out_norm_cfg=dict(type='LN', eps=1e-6),
    pyramid_norm_cfg=dict(type='SyncBN', requires_grad=True),
    init_cfg=dict(
        type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.'))
