# ViL-Medium-D on ImageNet-1k, the official recipe (see
# vil-tiny_8xb128_in1k.py). The released Medium-D RPB model was trained with
# random shift until 75% of the epochs (the hook comes from the Tiny config).
_base_ = './vil-tiny_8xb128_in1k.py'

model = dict(
    backbone=dict(arch='medium-d', random_shift=True),
    head=dict(in_channels=768))
