# Semantic FPN on ADE20K (512x512 crops, 80k iterations, 8 GPUs x 2 images,
# AdamW 1e-4 with poly decay to 0: the PVT protocol) with the released
# HVT-S-1 weights (1-D pooling): blocks 3, 5, 7 and 11 are stretched back to
# the stride-16 patch grid (paper Fig. 3) and rescaled to strides 4/8/16/32.
_base_ = [
    # First: it imports vit_backbones, which lets the mmseg:: bases resolve
    # on the onedl forks (see the base).
    './_base_/hvt-s-1_dense.py',
    'mmseg::_base_/models/fpn_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/schedules/schedule_80k.py',
    'mmseg::_base_/default_runtime.py',
]

crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    # Position embeddings are resized to the 512x512 crops when the 224x224
    # checkpoint is loaded (bicubic on the patch grid, linear along the
    # pooled sequence).
    backbone=dict(_base_.backbone, img_size=512),
    neck=dict(in_channels=[384, 384, 384, 384]),
    decode_head=dict(num_classes=150))

train_dataloader = dict(batch_size=2)

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.0001, weight_decay=0.0001),
    paramwise_cfg=dict(
        flat_decay_mult=0.0, custom_keys={'.pos_embed': dict(decay_mult=0.)}))
# schedule_80k's PolyLR has eta_min=1e-4, which would keep lr 1e-4 constant.
param_scheduler = [
    dict(
        type='PolyLR',
        power=0.9,
        eta_min=0.0,
        begin=0,
        end=80000,
        by_epoch=False)
]
