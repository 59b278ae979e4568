# HVT-S-2 (2D) (paper Table 9: patch 8, 2-D max-pooling after blocks 0 and 6)
# on ImageNet-1k with the official HVT recipe (see hvt-s-1_8xb128_in1k.py).
# The paper trains this model on CIFAR-100 only and no weights exist; this
# config produces the ImageNet weights the 2-D detection and segmentation
# configs start from.
_base_ = './hvt-s-1_8xb128_in1k.py'

model = dict(backbone=dict(arch='s-2-2d'))
