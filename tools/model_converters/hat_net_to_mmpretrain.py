"""Convert an official HAT-Net checkpoint to an mmpretrain classifier.

    python tools/model_converters/hat_net_to_mmpretrain.py \
        HAT-Net_Tiny.pth work_dirs/hat-net-tiny_3rdparty_in1k.pth

Reads the v2.0 release files ``HAT-Net_{Tiny,Small,Medium,Large}.pth`` of
https://github.com/yun-liu/HAT-Net (raw, or wrapped in ``model`` /
``state_dict``, ``module.`` prefixes stripped) and writes ``backbone.*`` /
``head.fc.*`` for ``configs/hat_net/hat-net-<v>_8xb128_in1k.py``; the same
file initialises the detection and segmentation backbones
(``init_cfg=dict(type='Pretrained', prefix='backbone.')``). The variant is
recognised from the weights; ``--arch`` names it or, for other models, gives
the arch dict as JSON. The older TransCNN v1.0 files are rejected: they are
a different network. The mapping lives in ``vit_backbones.converters.hat_net``.
"""


from vit_backbones.checkpoint.cli import run_cli


def main(argv=None):
    run_cli('hat_net', argv)


if __name__ == '__main__':
    main()
