"""Convert an official ViL checkpoint to an mmpretrain checkpoint.

Classification checkpoints of microsoft/vision-longformer (``{'net': ...}``,
``module.`` prefixes) become an ``ImageClassifier`` checkpoint
(``backbone.*``, ``head.fc.*``); detectron2 checkpoints of
microsoft/VisionLongformerForObjectDetection (``backbone.bottom_up.*``) become
a backbone checkpoint (``backbone.*``) for ``init_cfg=dict(type='Pretrained',
checkpoint=DST, prefix='backbone.')``.

``--arch`` is the model the file belongs to: a ViL arch name (with
``--pos-embed`` and, for detection files, ``--attn-types longformer``) or the
official ``MODEL.VIT.MSVIT.ARCH`` string. The converted tensors are checked
against that model; any unknown, missing or mis-shaped key is an error::

    python tools/model_converters/vil_to_mmpretrain.py \\
        longtiny1191_ape0_exact0_nglo1_mode1_swith075/model_best.pth \\
        work_dirs/vil-tiny_3rdparty_in1k.pth --arch tiny --pos-embed rpb
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))

from vit_backbones.converters.common import run_cli  # noqa: E402
from vit_backbones.converters.vil import convert, check_converted  # noqa


def add_arguments(parser):
    parser.add_argument(
        '--arch', required=True,
        help='ViL arch name (tiny, small, ...) or official arch string')
    parser.add_argument('--pos-embed', choices=['rpb', 'ape'],
                        help='position encoding (arch names only)')
    parser.add_argument(
        '--attn-types', nargs='+', choices=['full', 'longformer'],
        help='attention per stage, or one for all (arch names only; '
        'detection checkpoints use longformer)')
    parser.add_argument(
        '--global-tokens', nargs='+', type=int,
        help='global tokens per stage (arch names only)')
    parser.add_argument('--img-size', type=int, default=224,
                        help='size the position tables were built for')


def main(argv=None):

    def run(checkpoint, args):
        state_dict, is_detection = convert(checkpoint)
        kwargs = dict(arch=args.arch, img_size=args.img_size)
        if args.pos_embed:
            kwargs['pos_embed'] = args.pos_embed
        if args.attn_types:
            kwargs['attn_types'] = args.attn_types[0] if len(
                args.attn_types) == 1 else args.attn_types
        if args.global_tokens:
            kwargs['num_global_tokens'] = args.global_tokens
        check_converted(state_dict, kwargs, is_detection)
        return state_dict

    run_cli(__doc__.split('\n')[0], run, add_arguments, argv)


if __name__ == '__main__':
    main()
