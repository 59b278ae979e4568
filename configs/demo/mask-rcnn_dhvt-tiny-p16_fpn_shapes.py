# Mask R-CNN with DHVT-T-p16 on the synthetic shapes (COCO format, 128x128): the model of
# configs/dhvt/mask-rcnn_dhvt-tiny-p16_fpn_1x_coco.py trained from scratch with the demo's data and a short
# schedule.
#
# Known limit: from scratch at this budget this demo does not learn (box mAP
# about 0): from epoch 3 the RPN box loss and the RoI classification loss
# grow, with or without gradient clipping at 1.0, while RetinaNet on the
# same backbone reaches box mAP50 0.75 (configs/demo/README.md).
_base_ = ['../dhvt/mask-rcnn_dhvt-tiny-p16_fpn_1x_coco.py', './_base_/demo_det.py']

model = _base_.demo_mask_rcnn_model
train_dataloader = _base_.demo_train_dataloader
val_dataloader = _base_.demo_val_dataloader
test_dataloader = _base_.demo_val_dataloader
val_evaluator = _base_.demo_val_evaluator
test_evaluator = _base_.demo_val_evaluator
optim_wrapper = _base_.demo_optim_wrapper
param_scheduler = _base_.demo_param_scheduler
train_cfg = _base_.demo_train_cfg
default_hooks = _base_.demo_default_hooks
