# HVT-S-4 (= Scale HVT-Ti-4: the same model and checkpoint) on ImageNet-1k,
# official recipe (see hvt-s-1_8xb128_in1k.py).
_base_ = './hvt-s-1_8xb128_in1k.py'

model = dict(
    backbone=dict(arch='s-4'),
    head=dict(in_channels=384))
