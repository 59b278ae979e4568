# Semantic FPN with DHVT-T-p16 on the synthetic shapes (semantic segmentation, 128x128): the model
# of configs/dhvt/fpn_dhvt-tiny-p16_8xb2-80k_ade20k-512x512.py trained from scratch with the demo's data and a short
# schedule.
_base_ = ['../dhvt/fpn_dhvt-tiny-p16_8xb2-80k_ade20k-512x512.py', './_base_/demo_seg.py']

model = _base_.demo_model
train_dataloader = _base_.demo_train_dataloader
val_dataloader = _base_.demo_val_dataloader
test_dataloader = _base_.demo_val_dataloader
optim_wrapper = _base_.demo_optim_wrapper
param_scheduler = _base_.demo_param_scheduler
train_cfg = _base_.demo_train_cfg
default_hooks = _base_.demo_default_hooks
