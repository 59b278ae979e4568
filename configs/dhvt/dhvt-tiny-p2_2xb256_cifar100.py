# DHVT-T (patch 2) on CIFAR-100: the patch-4 recipe with patch 2.
_base_ = './dhvt-tiny-p4_2xb256_cifar100.py'

model = dict(backbone=dict(arch='tiny-cifar-p2'))
