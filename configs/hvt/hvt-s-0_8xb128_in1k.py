# HVT-S-0 (no pooling: DeiT-S without class token) on ImageNet-1k, official
# recipe (see hvt-s-1_8xb128_in1k.py).
_base_ = './hvt-s-1_8xb128_in1k.py'

model = dict(
    backbone=dict(arch='s-0'),
    head=dict(in_channels=384))
