# The semantic-segmentation demo on the synthetic shapes (ADE20K-style
# image/label PNG pairs, 128x128, background + 4 classes) written by
# tools/dataset_converters/make_demo_data.py.
#
# The keys are prefixed with `demo_` so this file can sit beside a real
# Semantic FPN config of this package in `_base_` (see
# configs/demo/*_demo_seg.py).
demo_data_root = 'data/demo/seg'
demo_metainfo = dict(
    classes=('background', 'circle', 'square', 'triangle', 'cross'),
    palette=[[0, 0, 0], [220, 20, 60], [0, 130, 200], [60, 180, 75],
             [255, 225, 25]])
demo_crop_size = (128, 128)

demo_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
demo_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=False),
    dict(type='PackSegInputs'),
]
demo_dataset = dict(
    type='BaseSegDataset',
    data_root=demo_data_root,
    metainfo=demo_metainfo,
    img_suffix='.png',
    seg_map_suffix='.png',
    reduce_zero_label=False)
demo_train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=False,
    dataset=dict(
        demo_dataset,
        data_prefix=dict(
            img_path='img_dir/train', seg_map_path='ann_dir/train'),
        pipeline=demo_train_pipeline))
demo_val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    dataset=dict(
        demo_dataset,
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
        pipeline=demo_test_pipeline))

demo_model = dict(
    data_preprocessor=dict(size=demo_crop_size),
    backbone=dict(init_cfg=None),
    decode_head=dict(num_classes=len(demo_metainfo['classes'])))

# Plain fp32 steps: the demo runs on CPU, where mmengine refuses the
# AmpOptimWrapper of the real configs that train with AMP (ViL's).
demo_optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(lr=1e-3, weight_decay=0.05))
demo_max_iters = 500
demo_param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=100),
    dict(type='PolyLR', eta_min=0., power=0.9, by_epoch=False, begin=100,
         end=demo_max_iters),
]
demo_train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=demo_max_iters, val_interval=250)
demo_default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(by_epoch=False, interval=250, max_keep_ckpts=1))
