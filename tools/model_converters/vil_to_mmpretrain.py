"""Convert an official ViL checkpoint to an mmpretrain checkpoint.

Classification checkpoints of microsoft/vision-longformer (``{'net': ...}``,
``module.`` prefixes) become an ``ImageClassifier`` checkpoint
(``backbone.*``, ``head.fc.*``); detectron2 checkpoints of
microsoft/VisionLongformerForObjectDetection (``backbone.bottom_up.*``) become
a backbone checkpoint (``backbone.*``) for ``init_cfg=dict(type='Pretrained',
checkpoint=DST, prefix='backbone.')``.

``--arch`` is the model the file belongs to: a ViL arch name (with
``--pos-embed`` and, for detection files, ``--attn-types longformer``) or the
official ``MODEL.VIT.MSVIT.ARCH`` string; ViL cannot read it from the
weights, so it is needed unless ``--no-validate``. The converted tensors are
checked against that model (with position tables for ``--img-size``,
default 224); any unknown, missing or mis-shaped key is an error::

    python tools/model_converters/vil_to_mmpretrain.py \\
        longtiny1191_ape0_exact0_nglo1_mode1_swith075/model_best.pth \\
        work_dirs/vil-tiny_3rdparty_in1k.pth --arch tiny --pos-embed rpb
"""


from vit_backbones.checkpoint.cli import run_cli


def add_arguments(parser):
    parser.add_argument('--pos-embed', choices=['rpb', 'ape'],
                        help='position encoding (arch names only)')
    parser.add_argument(
        '--attn-types', nargs='+', choices=['full', 'longformer'],
        help='attention per stage, or one for all (arch names only; '
        'detection checkpoints use longformer)')
    parser.add_argument(
        '--global-tokens', nargs='+', type=int,
        help='global tokens per stage (arch names only)')


def model_kwargs(args):
    kwargs = {}
    if args.pos_embed:
        kwargs['pos_embed'] = args.pos_embed
    if args.attn_types:
        kwargs['attn_types'] = args.attn_types[0] if len(
            args.attn_types) == 1 else args.attn_types
    if args.global_tokens:
        kwargs['num_global_tokens'] = args.global_tokens
    return kwargs


def main(argv=None):
    run_cli('vil', argv, img_size=True,
            add_arguments=add_arguments, extra_kwargs=model_kwargs)


if __name__ == '__main__':
    main()
