# ViL-Small-3stage on ImageNet-1k, the official recipe (see
# vil-tiny_8xb128_in1k.py).
_base_ = './vil-tiny_8xb128_in1k.py'

model = dict(
    backbone=dict(
        arch='small-3stage', random_shift=False, out_indices=(2, )),
    head=dict(in_channels=768))

custom_hooks = []
