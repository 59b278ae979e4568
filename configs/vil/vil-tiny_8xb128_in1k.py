# ViL-Tiny (1-1-9-1, relative position bias) on ImageNet-1k with the official
# recipe of microsoft/vision-longformer: AdamW lr 1e-3 at batch 1024, weight
# decay 0.1 except norms, position embeddings, global tokens, relative position
# biases and the head bias; cosine over 300 epochs after 5 warm-up epochs;
# mixup 0.8, cutmix 1.0, label smoothing 0.1, RandAugment rand-m9-mstd0.5-inc1,
# random erasing 0.25; AMP. The released Tiny RPB model was trained with random
# shift until 75% of the epochs.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/default_runtime.py',
]

custom_imports = dict(imports=['vit_backbones'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(
        type='ViL',
        arch='tiny',
        img_size=224,
        pos_embed='rpb',
        random_shift=True,
        out_indices=(3, ),
        drop_path_rate=0.1),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=384,
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=.02, bias=0.),
        cal_acc=False),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0)
    ]),
)

train_dataloader = dict(batch_size=128)

# The official exemptions are substring matches on the official names
# ('pos_embed', 'cls_token', 'norm.weight', 'norm.bias', 'norm_embed',
# 'head.bias', 'relative_position'): every LayerNorm, the position tables,
# the global tokens, every relative position bias and the head bias. Other
# biases are decayed. tests/test_configs/test_vil_configs.py checks the
# groups below select exactly that set.
optim_wrapper = dict(
    type='AmpOptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-3, weight_decay=0.1, eps=1e-8,
        betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        custom_keys={
            '.pos_embed_': dict(decay_mult=0.0),
            '.global_tokens': dict(decay_mult=0.0),
            '_relative_position_bias': dict(decay_mult=0.0),
            'head.fc.bias': dict(decay_mult=0.0),
        }),
)

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.002,
        by_epoch=True,
        end=5,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-6,
        by_epoch=True,
        begin=5,
        end=300,
        convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=1024)

custom_hooks = [dict(type='ViLRandomShiftHook', switch_ratio=0.75)]
