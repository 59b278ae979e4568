# Semantic FPN on ADE20K with ViL-Tiny. ViL reports no semantic segmentation
# result (its "segmentation" is Mask R-CNN instance segmentation), so this is
# our recipe, not the paper's: the PVT/Twins Semantic FPN protocol (AdamW lr
# 1e-4, weight decay 1e-4, poly decay to 0 over 80k iterations, batch 16 of
# 512x512 crops) with the detection layout of the backbone (Longformer in all
# stages, one global token in stages 1-3, no output norms).
_base_ = [
    # First: it imports vit_backbones, which lets the mmseg:: bases resolve
    # on the onedl forks (see the base).
    './_base_/vil-tiny_dense.py',
    'mmseg::_base_/models/fpn_r50.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/schedules/schedule_80k.py',
    'mmseg::_base_/default_runtime.py',
]

crop_size = (512, 512)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(_base_.backbone, drop_path_rate=0.1),
    neck=dict(in_channels=[48, 96, 192, 384]),
    decode_head=dict(num_classes=150))

train_dataloader = dict(batch_size=2)

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4))
# schedule_80k's PolyLR has eta_min=1e-4, which would keep lr 1e-4 constant.
param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=80000,
         by_epoch=False)
]
