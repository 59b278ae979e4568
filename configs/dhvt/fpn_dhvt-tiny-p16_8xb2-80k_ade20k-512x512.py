# Semantic FPN on ADE20K with an ImageNet-pretrained DHVT-T. DHVT is plain
# (stride 16), so the backbone builds strides 4/8/16/32 itself from blocks
# 3, 5, 7 and 11 (deconv x4, deconv x2, identity, max-pool).
# Protocol of the PVT/Twins Semantic FPN results: AdamW lr 1e-4, weight
# decay 1e-4, poly schedule to 0, 512x512 crops, 80k iterations at 8x2.
_base_ = [
    # First: it imports vit_backbones, which lets the mmseg:: bases resolve
    # on the onedl forks (see the base).
    './_base_/dhvt-tiny-p16_dense.py',
    'mmseg::_base_/models/fpn_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
]

crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=_base_.backbone,
    neck=dict(in_channels=[192, 192, 192, 192]),
    decode_head=dict(num_classes=150))

train_dataloader = dict(batch_size=2)

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={'.cls_token': dict(decay_mult=0.0)}),
    clip_grad=None)
# schedule_80k's PolyLR has eta_min=1e-4, which with lr 1e-4 would keep the
# learning rate constant: decay to 0 instead.
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=0.9,
        begin=0,
        end=80000,
        by_epoch=False)
]
