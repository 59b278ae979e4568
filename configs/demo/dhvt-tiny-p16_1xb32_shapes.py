# DHVT-T (ImageNet layout, patch 16) on the synthetic shapes (classification,
# 64x64): the model of configs/dhvt/dhvt-tiny-p16_4xb128_in1k.py with the
# demo's data and a short schedule. The same backbone as the detection and
# segmentation demos. (The CIFAR layout, patch 4, sees 256 tokens at 64x64:
# about 5 s per step of 32 images on this 2-core CPU, 40+ minutes in all.)
_base_ = ['../dhvt/dhvt-tiny-p16_4xb128_in1k.py', './_base_/demo_cls.py']

model = _base_.demo_model
data_preprocessor = _base_.demo_data_preprocessor
train_dataloader = _base_.demo_train_dataloader
val_dataloader = _base_.demo_val_dataloader
test_dataloader = _base_.demo_val_dataloader
val_evaluator = _base_.demo_val_evaluator
test_evaluator = _base_.demo_val_evaluator
optim_wrapper = _base_.demo_optim_wrapper
param_scheduler = _base_.demo_param_scheduler
train_cfg = _base_.demo_train_cfg
default_hooks = _base_.demo_default_hooks
# The recipe's EMA (momentum 4e-5) averages over ~25k iterations; the
# demo runs a few hundred, so evaluate the trained weights themselves.
custom_hooks = []
