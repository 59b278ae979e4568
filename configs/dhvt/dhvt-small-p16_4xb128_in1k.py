# DHVT-S on ImageNet-1k: the DHVT-T recipe with the small arch.
_base_ = './dhvt-tiny-p16_4xb128_in1k.py'

model = dict(
    backbone=dict(arch='small-in1k-p16'), head=dict(in_channels=384))
