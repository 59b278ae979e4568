# The tiny classifier with everything that draws random numbers during
# training: drop path in the backbone (torch), random flips (numpy), a
# shuffling sampler, and a validation between the epochs (its loader draws
# from torch's generator). For the exact-resume test.
_base_ = ['./tiny_cls.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='HATNet',
        arch=dict(embed_dims=[8, 16, 24, 32], depths=[1, 1, 1, 1],
                  head_dim=8, mlp_ratios=[2, 2, 2, 2],
                  kernel_sizes=[3, 3, 3, 3]),
        drop_path_rate=0.5),
    head=dict(in_channels=32))
pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs')
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=pipeline))
train_cfg = dict(max_epochs=2, val_interval=1)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1))
randomness = dict(seed=7, deterministic=True)
