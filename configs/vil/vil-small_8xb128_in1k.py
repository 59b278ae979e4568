# ViL-Small on ImageNet-1k, the official recipe (see vil-tiny_8xb128_in1k.py).
_base_ = './vil-tiny_8xb128_in1k.py'

model = dict(
    backbone=dict(arch='small', random_shift=False),
    head=dict(in_channels=768))

custom_hooks = []
