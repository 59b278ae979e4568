# RetinaNet with HVT-S-2 (2-D pooling) on the synthetic shapes (COCO format,
# 128x128): the model of configs/hvt/retinanet_hvt-s-2-2d_fpn_1x_coco.py trained from
# scratch with the demo's data and a short schedule. The 2-D layout keeps
# the token grid through the pools; with the 1-D layout (HVT-S-1) RetinaNet
# reached only box mAP50 0.066 after the 8 epochs (0.485 for 2-D at epoch 4).
_base_ = ['../hvt/retinanet_hvt-s-2-2d_fpn_1x_coco.py', './_base_/demo_det.py']

model = _base_.demo_retinanet_model
train_dataloader = _base_.demo_train_dataloader
val_dataloader = _base_.demo_val_dataloader
test_dataloader = _base_.demo_val_dataloader
val_evaluator = _base_.demo_val_evaluator
test_evaluator = _base_.demo_val_evaluator
optim_wrapper = _base_.demo_optim_wrapper
param_scheduler = _base_.demo_param_scheduler
train_cfg = _base_.demo_train_cfg
default_hooks = _base_.demo_default_hooks
