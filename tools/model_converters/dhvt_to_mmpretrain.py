"""Convert a checkpoint written by the official DHVT ``main.py``
(``ArieSeirack/DHVT``) to an mmpretrain classifier checkpoint::

    python tools/model_converters/dhvt_to_mmpretrain.py \\
        output/cifar/checkpoint.pth work_dirs/dhvt-tiny-p4_cifar100.pth \\
        [--ema] [--arch tiny-cifar-p4] [--no-validate]

``--ema`` converts the ``model_ema`` weights instead of ``model`` (the
paper reports ``model``). The key rules are in
:mod:`vit_backbones.converters.dhvt`; unknown or missing keys fail loudly.
The official file pickles an ``argparse.Namespace``, so only convert files
you trust.
"""


from vit_backbones.checkpoint.cli import run_cli
from vit_backbones.converters.dhvt import (arch_name, infer_arch,
                                           official_model_name)


def add_arguments(parser):
    parser.add_argument(
        '--ema',
        action='store_true',
        help='convert the EMA weights (`model_ema`) instead of `model`')


def report(checkpoint, state_dict, args):
    num_classes = state_dict['head.fc.weight'].shape[0]
    arch = args.arch or arch_name(infer_arch(state_dict), num_classes)
    return (f'Official model: {official_model_name(checkpoint) or "unknown"};'
            f' weights: {"model_ema" if args.ema else "model"}; DHVT arch: '
            f'{arch}, {num_classes} classes')


def main(argv=None):
    run_cli('dhvt', argv,
            add_arguments=add_arguments,
            extra_kwargs=lambda args: dict(use_ema=args.ema),
            report=report)


if __name__ == '__main__':
    main()
