"""Convert an official HVT checkpoint to an mmpretrain classifier checkpoint.

    python tools/model_converters/hvt_to_mmpretrain.py hvt_s_1.pth \
        work_dirs/hvt-s-1_3rdparty_in1k.pth [--arch s-1] [--img-size 224]
    python tools/model_converters/hvt_to_mmpretrain.py hvt_224x288.pth \
        hvt_224x288_mmpretrain.pth --img-size 224 288  # height, width

Reads the release files of https://github.com/zhuang-group/HVT/releases
(``hvt_ti_1.pth``, ``hvt_s_0.pth`` ... ``hvt_s_3.pth``,
``scale_hvt_ti_4.pth`` = HVT-S-4); the arch is read from the keys unless
``--arch`` is given, the input size from ``pos_embed`` (square) unless
``--img-size`` is (``N``, or ``H W`` for a checkpoint trained on
non-square inputs). The official files pickle an ``argparse.Namespace``,
so only convert files you trust. The mapping lives in
:mod:`vit_backbones.converters.hvt`.
"""


from vit_backbones.checkpoint.cli import run_cli


def main(argv=None):
    run_cli('hvt', argv, img_size=True)


if __name__ == '__main__':
    main()
