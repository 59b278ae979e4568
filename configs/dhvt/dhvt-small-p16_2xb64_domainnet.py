# DHVT-S on one DomainNet domain: batch 128 (2 GPUs x 64), --lr 1e-3 scaled
# by 128 / 512 to 2.5e-4 in the official main.py.
_base_ = './dhvt-tiny-p16_2xb128_domainnet.py'

model = dict(
    backbone=dict(arch='small-domainnet-p16'), head=dict(in_channels=384))
train_dataloader = dict(batch_size=64)
optim_wrapper = dict(optimizer=dict(lr=2.5e-4))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=4e-3,
        by_epoch=True,
        end=20,
        convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=20)
]
auto_scale_lr = dict(base_batch_size=128)
