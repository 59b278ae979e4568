# HVT-S-2 on ImageNet-1k, official recipe (see hvt-s-1_8xb128_in1k.py).
_base_ = './hvt-s-1_8xb128_in1k.py'

model = dict(
    backbone=dict(arch='s-2'),
    head=dict(in_channels=384))
