# HVT-S-1 on ImageNet-1k with the official recipe (MonashAI/HVT main.py +
# params.py defaults + config/hvt-s-1.json): 8 GPUs x 128 images, AdamW,
# lr 5e-4 x 1024 / 512 = 1e-3 (linear scaling, as the official code does),
# weight decay 0.025 (not DeiT's 0.05), 300 epochs with 5 warm-up epochs,
# DeiT augmentation, Mixup 0.8 / CutMix 1.0, label smoothing 0.1, repeated
# augmentation, drop path 0.1, no gradient clipping, no EMA.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]

custom_imports = dict(imports=['vit_backbones'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    # The backbone returns the mean of all tokens after the final LayerNorm
    # (paper Eq. 6), so there is no neck.
    backbone=dict(
        type='HVT', arch='s-1', img_size=224, drop_path_rate=0.1),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=384,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=.02, bias=0.)),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0),
    ]),
)

# data: DeiT augmentation (RandAugment m9 mstd0.5 increasing, RandomErasing
# 0.25 with per-pixel random fill, bicubic), eval resize 256 + crop 224.
train_dataloader = dict(
    batch_size=128,
    # DeiT's repeated augmentation (x3), as the official RASampler.
    sampler=dict(_delete_=True, type='RepeatAugSampler', shuffle=True))
val_dataloader = dict(batch_size=128)
test_dataloader = val_dataloader

# optimizer: timm's add_weight_decay exempts every 1-D parameter (biases,
# norms) and every parameter whose name contains 'pos_embed'. mmengine's
# custom_keys are substring matches: '.pos_embed' catches the patch position
# embedding ('backbone.pos_embed') and every stage embedding
# ('backbone.pools.{m}.pos_embed'), as intended.
optim_wrapper = dict(
    optimizer=dict(
        type='AdamW',
        lr=5e-4 * 1024 / 512,
        weight_decay=0.025,
        eps=1e-8,
        betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        _delete_=True,
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        flat_decay_mult=0.0,
        custom_keys={'.pos_embed': dict(decay_mult=0.0)}),
)

# schedule: timm's per-epoch warm-up from 1e-6 for 5 epochs, then cosine to
# min_lr 1e-5 (timm counts the cosine from epoch 0, we from the end of the
# warm-up, as mmpretrain's Swin/DeiT recipes do).
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=5),
    dict(
        type='CosineAnnealingLR',
        T_max=295,
        eta_min=1e-5,
        by_epoch=True,
        begin=5,
        end=300),
]
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)

# lr = 5e-4 * total_batch / 512, i.e. 1e-3 at 8 x 128.
auto_scale_lr = dict(base_batch_size=1024)
