# The HAT-Net-Tiny backbone of every HAT-Net detection and segmentation
# config (RetinaNet, Mask R-CNN, Semantic FPN): the paper's dense setting
# (Sec. 4.2-4.3, following PVT), G1 = (8, 8, 8) and G2 = (16, 8, 4) in the
# H-MHSA stages, initialised from the converted ImageNet weights. A task
# config takes it as `model = dict(backbone=_base_.backbone, ...)`, changing
# what the task needs (e.g. RetinaNet's out_indices); the other variants
# change `arch` and the checkpoint.
custom_imports = dict(imports=['vit_backbones'], allow_failed_imports=False)
# Imported while the config is read, too: a task config lists this base
# before any `mmseg::` base, and on the onedl forks those resolve only after
# the package has patched mmengine (vit_backbones/patches.py), which the
# toolboxes' own scripts and inferencers would do too late (after parsing).
# (An import statement would make mmengine read this file as a lazy-import
# config.)
__import__('vit_backbones')

# The official ImageNet weights (hat-net-tiny_3rdparty_in1k in the model zoo),
# converted while they load; a local copy of the file, or a converted
# or trained checkpoint, works too.
checkpoint_file = ('https://github.com/yun-liu/HAT-Net/releases/download/v2.0/'
                   'HAT-Net_Tiny.pth')

backbone = dict(
    _delete_=True,
    type='mmpretrain.HATNet',
    arch='tiny',
    grid_sizes=(8, 8, 8, 1),
    ds_ratios=(16, 8, 4, 1),
    out_indices=(0, 1, 2, 3),
    drop_path_rate=0.1,
    init_cfg=dict(
        type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.'))
