_base_ = './hat-net-tiny_8xb128_in1k.py'

# PVT's recipe for its Medium and Large models, which HAT-Net follows
# ("exactly follows the code and the training settings of PVT"):
# classification/configs/pvt/pvt_large.py sets drop_path=0.3 and
# clip_grad=1.0 (whai362/PVT, commit 57e2dfa), where Tiny and Small keep the
# defaults 0.1 and no clipping.
model = dict(
    backbone=dict(arch='large', drop_path_rate=0.3),
    head=dict(in_channels=640))
optim_wrapper = dict(clip_grad=dict(max_norm=1.0, norm_type=2))
