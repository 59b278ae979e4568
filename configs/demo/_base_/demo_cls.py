# The classification demo on the synthetic shapes (ImageNet-style folders,
# 4 classes, 64x64 images) written by
# tools/dataset_converters/make_demo_data.py.
#
# The keys are prefixed with `demo_` so this file can sit beside a real
# classification config of this package in `_base_`; a demo config merges
# them into the real settings (see configs/demo/*_shapes.py): same model,
# smaller inputs, fewer epochs, a CPU-friendly batch, no Mixup/CutMix.
demo_data_root = 'data/demo/cls'
demo_num_classes = 4

demo_data_preprocessor = dict(num_classes=demo_num_classes)
demo_model = dict(head=dict(num_classes=demo_num_classes), train_cfg=None)

demo_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.6, 1.)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
demo_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackInputs'),
]
demo_train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(_delete_=True, type='DefaultSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=demo_data_root,
        data_prefix='train',
        pipeline=demo_train_pipeline))
demo_val_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(_delete_=True, type='DefaultSampler', shuffle=False),
    dataset=dict(
        _delete_=True,
        type='CustomDataset',
        data_root=demo_data_root,
        data_prefix='val',
        pipeline=demo_test_pipeline))
demo_val_evaluator = dict(_delete_=True, type='Accuracy', topk=(1, ))

# Plain fp32 steps: the demo runs on CPU, where mmengine refuses the
# AmpOptimWrapper of the real configs that train with AMP (ViL's).
demo_optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(lr=1e-3, weight_decay=0.05))
demo_max_epochs = 8
demo_param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=1,
         end=demo_max_epochs, eta_min=1e-5),
]
demo_train_cfg = dict(by_epoch=True, max_epochs=demo_max_epochs,
                      val_interval=4)
demo_default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=4, max_keep_ckpts=1, save_best='auto'))
