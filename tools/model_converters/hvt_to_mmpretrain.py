"""Convert an official HVT checkpoint to an mmpretrain classifier checkpoint.

    python tools/model_converters/hvt_to_mmpretrain.py hvt_s_1.pth \
        work_dirs/hvt-s-1_3rdparty_in1k.pth

Reads the release files of https://github.com/zhuang-group/HVT/releases
(``hvt_ti_1.pth``, ``hvt_s_0.pth`` ... ``hvt_s_3.pth``,
``scale_hvt_ti_4.pth`` = HVT-S-4); the arch is read from the keys unless
``--arch`` is given. The official files pickle an ``argparse.Namespace``, so
they are loaded with ``weights_only=False``: only convert files you trust.
The mapping lives in :mod:`vit_backbones.converters.hvt`.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

from vit_backbones.converters.common import run_cli  # noqa: E402
from vit_backbones.converters.hvt import convert  # noqa: E402


def add_arguments(parser):
    parser.add_argument(
        '--arch',
        help='HVT arch name (e.g. s-1, s-4); read from the checkpoint keys '
        'when omitted')


def convert_file(checkpoint, args):
    state_dict, arch = convert(checkpoint, arch=args.arch)
    print(f'HVT arch: {arch}')
    return state_dict


def main(argv=None):
    run_cli('Convert an official HVT checkpoint to mmpretrain.', convert_file,
            add_arguments, argv)


if __name__ == '__main__':
    main()
