# DHVT-T on one DomainNet domain (345 classes) from scratch: the official
# run_code_domain.sh (2 GPUs x 128, --lr 1e-3 scaled by 256 / 512 to 5e-4,
# 20 warm-up epochs, 300 epochs), DeiT augmentation at 224x224.
#
# Data: the official ImageFolder layout, one folder per domain,
#   data/domainnet/<domain>/{train,val}/<class>/*.jpg
# (VTs-Drloc's scripts make it from the DomainNet image lists). The paper
# reports ClipArt, Painting and Sketch; pick the domain by editing
# `data_root` below (or override `train_dataloader.dataset.data_root`,
# `val_dataloader.dataset.data_root` and `test_dataloader.dataset.data_root`
# with --cfg-options).
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
        arch='tiny-domainnet-p16',
        drop_path_rate=0.1,
        # official: SyncBN in the patch embedding, per-GPU BN in DAFF
        stem_norm_cfg=dict(type='SyncBN'),
        norm_cfg=dict(type='BN')),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=345,
        in_channels=192,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=.02)),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0)
    ]))

# dataset settings: ImageFolder layout read by mmpretrain's CustomDataset
# (classes are the sorted folder names, as torchvision's ImageFolder).
data_root = 'data/domainnet/clipart'
data_preprocessor = dict(num_classes=345)
train_dataloader = dict(
    batch_size=128,
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='train',
        pipeline={{_base_.train_pipeline}}),
    # repeated augmentation (DeiT's RASampler, 3 repeats)
    sampler=dict(type='RepeatAugSampler', num_repeats=3, shuffle=True))
val_dataloader = dict(
    batch_size=128,
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='val',
        pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader

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
warmup_epochs = 20
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
auto_scale_lr = dict(base_batch_size=256)

# model EMA with decay 0.99996 (timm ModelEma, which averages BN statistics
# too); the paper's accuracies are those of the raw model
custom_hooks = [
    dict(
        type='EMAHook',
        momentum=4e-5,
        update_buffers=True,
        priority='ABOVE_NORMAL')
]
