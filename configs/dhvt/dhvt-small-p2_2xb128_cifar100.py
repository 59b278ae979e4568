# DHVT-S (patch 2) on CIFAR-100: batch 256 (2 GPUs x 128), effective lr
# 5e-4 (--lr 1e-3 scaled by 256 / 512 in the official main.py).
_base_ = './dhvt-tiny-p4_2xb256_cifar100.py'

model = dict(
    backbone=dict(arch='small-cifar-p2'), head=dict(in_channels=384))
train_dataloader = dict(batch_size=128)
optim_wrapper = dict(optimizer=dict(lr=5e-4))
param_scheduler = [
    # linear warm-up from 1e-6
    dict(
        type='LinearLR',
        start_factor=2e-3,
        by_epoch=True,
        end=5,
        convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5)
]
auto_scale_lr = dict(base_batch_size=256)
