# HVT-Ti-1 on the synthetic shapes (classification, 64x64): the model of
# configs/hvt/hvt-ti-1_8xb128_in1k.py with the demo's data and a short schedule.
_base_ = ['../hvt/hvt-ti-1_8xb128_in1k.py', './_base_/demo_cls.py']

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
