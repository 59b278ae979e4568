# The detection / instance-segmentation demo on the synthetic shapes (COCO
# format, 128x128 images, 4 classes) written by
# tools/dataset_converters/make_demo_data.py.
#
# The keys are prefixed with `demo_` so this file can sit beside a real
# detection config of this package in `_base_`; a demo config then merges
# them into the real settings, e.g. `train_dataloader =
# _base_.demo_train_dataloader` (see configs/demo/*_demo_det.py).
demo_classes = ('circle', 'square', 'triangle', 'cross')
demo_data_root = 'data/demo/det/'
demo_metainfo = dict(
    classes=demo_classes,
    palette=[(220, 20, 60), (0, 130, 200), (60, 180, 75), (255, 225, 25)])
demo_img_scale = (128, 128)

demo_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=demo_img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
demo_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=demo_img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor')),
]
demo_train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=False,
    dataset=dict(
        data_root=demo_data_root,
        metainfo=demo_metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=4),
        pipeline=demo_train_pipeline))
demo_val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=False,
    dataset=dict(
        data_root=demo_data_root,
        metainfo=demo_metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=demo_test_pipeline))
demo_val_evaluator = dict(
    ann_file=demo_data_root + 'annotations/instances_val.json')

# Models: the number of classes changes and the backbone starts from scratch
# (the real configs load ImageNet weights).
demo_retinanet_model = dict(
    backbone=dict(init_cfg=None),
    bbox_head=dict(num_classes=len(demo_classes)))
# Mask R-CNN: same model; fewer proposals and sampled RoIs per image (the
# mask head's four 256-channel convs at 14x14 cost about 1.4 GMAC per positive
# RoI in training, which dominates a CPU step with the COCO setting of 512
# RoIs per image; the demo images hold 2-3 objects).
demo_mask_rcnn_model = dict(
    backbone=dict(init_cfg=None),
    roi_head=dict(
        bbox_head=dict(num_classes=len(demo_classes)),
        mask_head=dict(num_classes=len(demo_classes))),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=500, max_per_img=100),
        rcnn=dict(sampler=dict(num=16, pos_fraction=0.25))),
    test_cfg=dict(
        rpn=dict(nms_pre=500, max_per_img=100),
        rcnn=dict(max_per_img=20)))

# Schedule: from scratch, short, on CPU.
# Plain fp32 steps: the demo runs on CPU, where mmengine refuses the
# AmpOptimWrapper of the real configs that train with AMP (ViL's).
demo_optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(lr=2e-4, weight_decay=0.05))
demo_max_epochs = 8
demo_param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=100),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0,
         end=demo_max_epochs, eta_min=1e-5),
]
demo_train_cfg = dict(max_epochs=demo_max_epochs, val_interval=4)
demo_default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=4, max_keep_ckpts=1))
