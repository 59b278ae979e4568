# HVT-S-3 on CIFAR-100, the paper's recipe (see hvt-s-1_1xb128_cifar100.py).
_base_ = './hvt-s-1_1xb128_cifar100.py'

model = dict(backbone=dict(arch='s-3'))
