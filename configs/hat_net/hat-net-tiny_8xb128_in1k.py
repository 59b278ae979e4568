# HAT-Net-Tiny on ImageNet-1k with the paper's recipe, which is PVT's
# DeiT-style training (the official README: "exactly follows the code and the
# training settings of PVT"): 8 GPUs x 128 images, AdamW lr 1e-3 (5e-4 per
# 512 images) with 5 warm-up epochs, weight decay 0.05 without decay on
# biases and norms (timm's create_optimizer), cosine to 1e-5 over 300
# epochs, Mixup 0.8 / CutMix 1.0, label smoothing 0.1, RandAugment
# rand-m9-mstd0.5-inc1, random erasing 0.25, repeated augmentation.
# Drop path 0.1 and no gradient clipping are PVT's Tiny/Small values
# (Medium and Large: 0.3 and clip 1.0); HAT-Net does not publish them.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]

custom_imports = dict(imports=['vit_backbones'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='HATNet',
        arch='tiny',
        # G1 and G2 of the paper's ImageNet models (Sec. 4.1).
        grid_sizes=(8, 7, 7, 1),
        ds_ratios=(8, 4, 2, 1),
        out_indices=(3, ),
        drop_path_rate=0.1),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='DropoutLinearClsHead',
        num_classes=1000,
        in_channels=384,
        # The official classifier: Dropout(0.2) -> Linear.
        dropout_rate=0.2,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=.02, bias=0.)),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0),
    ]),
)

# 8 GPUs x 128 images, repeated augmentation as in DeiT/PVT.
train_dataloader = dict(
    batch_size=128, sampler=dict(type='RepeatAugSampler', shuffle=True))

optim_wrapper = dict(
    optimizer=dict(lr=5e-4 * 1024 / 512, weight_decay=0.05),
    # timm's create_optimizer exempts every bias and every 1-D parameter
    # (the GroupNorm weights); HAT-Net has no other special parameters.
    paramwise_cfg=dict(
        _delete_=True,
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        flat_decay_mult=0.0),
)

param_scheduler = [
    # 5 warm-up epochs from 1e-6 (DeiT's warmup-lr), updated per iteration.
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=5,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-5,
        by_epoch=True,
        begin=5,
        end=300),
]

train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
auto_scale_lr = dict(base_batch_size=1024)
