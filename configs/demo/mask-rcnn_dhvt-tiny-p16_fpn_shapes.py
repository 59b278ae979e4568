# Mask R-CNN with DHVT-T-p16 on the synthetic shapes (COCO format, 128x128): the model of
# configs/dhvt/mask-rcnn_dhvt-tiny-p16_fpn_1x_coco.py trained from scratch with the demo's data and a short
# schedule.
_base_ = ['../dhvt/mask-rcnn_dhvt-tiny-p16_fpn_1x_coco.py', './_base_/demo_det.py']

model = _base_.demo_mask_rcnn_model
train_dataloader = _base_.demo_train_dataloader
val_dataloader = _base_.demo_val_dataloader
test_dataloader = _base_.demo_val_dataloader
val_evaluator = _base_.demo_val_evaluator
test_evaluator = _base_.demo_val_evaluator
# Gradient clipping: without it this demo diverged after epoch 4 (loss_cls
# 1.0 -> 6.1, box mAP 0), while RetinaNet with the same backbone trained.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(lr=2e-4, weight_decay=0.05),
    clip_grad=dict(max_norm=1.0, norm_type=2))
param_scheduler = _base_.demo_param_scheduler
train_cfg = _base_.demo_train_cfg
default_hooks = _base_.demo_default_hooks
