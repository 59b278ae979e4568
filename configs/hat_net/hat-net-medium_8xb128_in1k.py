_base_ = './hat-net-tiny_8xb128_in1k.py'

model = dict(backbone=dict(arch='medium'), head=dict(in_channels=512))
