# HVT-S-1 on CIFAR-100 as in the paper (Sec. 5): the ImageNet recipe with a
# total batch of 128 and lr 5e-4 x 128 / 512 = 1.25e-4. The 32x32 images go
# through the same 224x224 DeiT pipeline (patch 16) with ImageNet mean/std,
# as the official datasets.py does for every dataset.
_base_ = './hvt-s-1_8xb128_in1k.py'

data_preprocessor = dict(
    num_classes=100,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    # CIFAR images are loaded as RGB arrays.
    to_rgb=False)
rgb_mean = data_preprocessor['mean']
rgb_std = data_preprocessor['std']

train_pipeline = [
    dict(
        type='RandomResizedCrop',
        scale=224,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=9,
        magnitude_std=0.5,
        hparams=dict(
            pad_val=[round(x) for x in rgb_mean], interpolation='bicubic')),
    dict(
        type='RandomErasing',
        erase_prob=0.25,
        mode='rand',
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        fill_color=rgb_mean,
        fill_std=rgb_std),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(
        type='ResizeEdge',
        scale=256,
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=128,
    num_workers=8,
    dataset=dict(
        _delete_=True,
        type='CIFAR100',
        data_root='data/cifar100',
        split='train',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=128,
    num_workers=8,
    dataset=dict(
        _delete_=True,
        type='CIFAR100',
        data_root='data/cifar100',
        split='test',
        pipeline=test_pipeline))
test_dataloader = val_dataloader

model = dict(head=dict(num_classes=100))

# lr = 5e-4 * 128 / 512.
optim_wrapper = dict(optimizer=dict(lr=5e-4 * 128 / 512))
auto_scale_lr = dict(base_batch_size=128)
