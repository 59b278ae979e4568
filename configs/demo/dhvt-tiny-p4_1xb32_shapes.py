# DHVT-T-p4 on the synthetic shapes (classification, 64x64): the model of
# configs/dhvt/dhvt-tiny-p4_2xb256_cifar100.py with the demo's data and a short schedule.
_base_ = ['../dhvt/dhvt-tiny-p4_2xb256_cifar100.py', './_base_/demo_cls.py']

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
# The CIFAR recipe's EMA (momentum 4e-5) averages over ~25k iterations; the
# demo runs a few hundred, so evaluate the trained weights themselves.
custom_hooks = []
