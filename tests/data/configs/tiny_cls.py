# A tiny classifier on the demo data, for tests of the tools (train, test,
# distributed train). Small widths and two epochs of a few iterations.
_base_ = ['../../../configs/demo/_base_/demo_cls.py']

model = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=18, base_channels=8, stem_channels=8),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes={{_base_.num_classes}},
        in_channels=64,
        loss=dict(type='CrossEntropyLoss')))
train_dataloader = dict(batch_size=8, num_workers=0)
val_dataloader = dict(batch_size=16, num_workers=0)
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=2, val_interval=2)
default_hooks = dict(logger=dict(interval=1))
