_base_ = './hat-net-tiny_8xb128_in1k.py'

custom_imports = dict(imports=['vit_backbones'], allow_failed_imports=False)

model = dict(backbone=dict(arch='medium'), head=dict(in_channels=512))
