# DHVT-T on one DomainNet domain (345 classes) from scratch: the official
# run_code_domain.sh (2 GPUs x 128, --lr 1e-3 scaled by 256 / 512 to 5e-4,
# 20 warm-up epochs, 300 epochs), DeiT augmentation at 224x224. Everything
# else (model, DeiT pipeline, weight-decay exemptions, no EMA) is the ImageNet
# recipe this config inherits.
#
# Data: the official ImageFolder layout, one folder per domain,
#   data/domainnet/<domain>/{train,val}/<class>/*.jpg
# (VTs-Drloc's scripts make it from the DomainNet image lists). The paper
# reports ClipArt, Painting and Sketch; pick the domain by editing
# `data_root` below (or override `train_dataloader.dataset.data_root`,
# `val_dataloader.dataset.data_root` and `test_dataloader.dataset.data_root`
# with --cfg-options).
_base_ = './dhvt-tiny-p16_4xb128_in1k.py'

# DomainNet's tiny model has 4 heads (ImageNet's 3).
model = dict(
    backbone=dict(arch='tiny-domainnet-p16'), head=dict(num_classes=345))

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
        pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    batch_size=128,
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=data_root,
        data_prefix='val',
        pipeline={{_base_.test_pipeline}}))
test_dataloader = val_dataloader

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
