# Semantic FPN on ADE20K with HAT-Net-Tiny, the paper's setting (Sec. 4.2,
# following PVT): ImageNet-pretrained backbone, AdamW lr 1e-4 and weight
# decay 1e-4, poly schedule (power 0.9) down to 0, 8 GPUs x 2 images,
# 512x512 crops, 80k iterations, single-scale test at short side 512;
# G1 = (8, 8, 8) and G2 = (16, 8, 4) in the H-MHSA stages.
_base_ = [
    # First: it imports vit_backbones, which lets the mmseg:: bases resolve
    # on the onedl forks (see the base).
    './_base_/hat-net-tiny_dense.py',
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
    neck=dict(in_channels=[48, 96, 240, 384]),
    decode_head=dict(num_classes=150))

train_dataloader = dict(batch_size=2)

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4))

# schedule_80k's PolyLR stops at eta_min=1e-4, which would keep lr 1e-4
# constant; the paper's poly schedule decays to 0.
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=0.0,
        power=0.9,
        begin=0,
        end=80000,
        by_epoch=False)
]
