# The ViL-Tiny backbone of every ViL detection and segmentation config
# (RetinaNet, Mask R-CNN, Semantic FPN), after the official detectron2
# configs (VisionLongformerForObjectDetection): Longformer attention (window 7,
# SW_EXACT=0) in all four stages, one global token in stages 1-3 and none in
# stage 4, relative position bias, no output norms, drop path 0.05. A task
# config takes it as `model = dict(backbone=_base_.backbone, ...)`, changing
# what the task needs; the other variants change `arch` and the checkpoint.
custom_imports = dict(imports=['vit_backbones'], allow_failed_imports=False)
# Imported while the config is read, too: a task config lists this base
# before any `mmseg::` base, and on the onedl forks those resolve only after
# the package has patched mmengine (vit_backbones/patches.py), which the
# toolboxes' own scripts and inferencers would do too late (after parsing).
# (An import statement would make mmengine read this file as a lazy-import
# config.)
__import__('vit_backbones')

# The official ImageNet weights (vil-tiny_3rdparty_in1k in the model zoo),
# converted while they load; a local copy of the file, or a converted
# or trained checkpoint, works too.
# The classification layout (full attention in stages 3-4) is adapted
# when it is loaded.
checkpoint_file = ('https://penzhanwu2.blob.core.windows.net/imagenet/msvit/'
                   'visionlongformer/'
                   'longtiny1191_ape0_exact0_nglo1_mode1_swith075/'
                   'model_best.pth')

backbone = dict(
    _delete_=True,
    type='mmpretrain.ViL',
    arch='tiny',
    attn_types='longformer',
    num_global_tokens=(1, 1, 1, 0),
    pos_embed='rpb',
    out_indices=(0, 1, 2, 3),
    out_norm_cfg=None,
    drop_path_rate=0.05,
    init_cfg=dict(
        type='Pretrained', checkpoint=checkpoint_file, prefix='backbone.'))
