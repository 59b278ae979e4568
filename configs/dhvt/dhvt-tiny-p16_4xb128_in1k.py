# DHVT-T on ImageNet-1k from scratch: the DeiT recipe of the official code
# (paper Sec. 4.1: batch 512, lr 5e-4, 10 warm-up epochs, 300 epochs).
# 4 GPUs x 128: the paper's total batch with the official run_code_imn.sh's
# 128 images per GPU, which is what each per-GPU BatchNorm of DAFF sees
# (the paper's Table 11: BN is batch-size sensitive).
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py'
]
custom_imports = dict(imports=['vit_backbones'], allow_failed_imports=False)

# model settings
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='DHVT',
        arch='tiny-in1k-p16',
        drop_path_rate=0.1,
        # official: SyncBN in the patch embedding, per-GPU BN in DAFF
        stem_norm_cfg=dict(type='SyncBN'),
        norm_cfg=dict(type='BN')),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=192,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=.02)),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0)
    ]))

# dataset settings (the base pipeline is DeiT's: RandomResizedCrop bicubic,
# flip, RandAugment m9-mstd0.5-inc, RandomErasing 0.25; resize 256 + crop 224)
train_dataloader = dict(
    batch_size=128,
    # repeated augmentation (DeiT's RASampler, 3 repeats)
    sampler=dict(type='RepeatAugSampler', num_repeats=3, shuffle=True))

# schedule settings: weight decay 0.05 spares exactly what timm spares in
# the official main.py: 1-D parameters (norms, biases) and `cls_token`. The
# head-token embeddings (`attn.head_embed`, official `attn.pos_embed`) and
# the SOPE affines are decayed, so do not add a '.pos_embed' key here.
optim_wrapper = dict(
    optimizer=dict(lr=5e-4, weight_decay=0.05),
    paramwise_cfg=dict(
        _delete_=True,
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={'.cls_token': dict(decay_mult=0.0)}),
)
warmup_epochs = 10
param_scheduler = [
    # linear warm-up from 1e-6 (per iteration)
    dict(
        type='LinearLR',
        start_factor=2e-3,
        by_epoch=True,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-5,
        by_epoch=True,
        begin=warmup_epochs)
]
# the official lr scaling rule: lr = --lr x total batch / 512
auto_scale_lr = dict(base_batch_size=512)

# No model EMA: the official main.py keeps one (decay 0.99996, on by
# default) but evaluates and reports the raw model, and the paper's
# accuracies are the raw model's. mmengine's EMAHook would validate, test and
# save the EMA instead (configs/dhvt/README.md).
