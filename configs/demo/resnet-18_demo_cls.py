# Classification demo with mmpretrain's ResNet-18 (a stand-in until the
# demos of this package's backbones land): 4 shape classes, 64x64 inputs.
_base_ = ['./_base_/demo_cls.py']

model = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=18, base_channels=16),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes={{_base_.num_classes}},
        in_channels=128,
        loss=dict(type='CrossEntropyLoss')))
