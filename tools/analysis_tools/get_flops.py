"""Print the parameters and FLOPs of a config's model.

FLOPs are multiply-accumulates (the papers' and OpenMMLab's convention),
counted with and without the attention matmuls (``q @ k^T``, ``attn @ v``),
with norms and pooling or without them::

    python tools/analysis_tools/get_flops.py configs/hat_net/hat-net-tiny_8xb128_in1k.py
    python tools/analysis_tools/get_flops.py CONFIG --shape 800 1280 --part backbone

The default input is 800x1280 for detectors and 512x512 for segmentors (the
papers' settings); for classifiers it is the test pipeline's crop (224 for
ImageNet configs) or the dataset's native size (32 for CIFAR without resize).
"""
import argparse

from mmengine.config import Config, DictAction
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import MODELS, init_default_scope

from vit_backbones.tools.complexity import (default_input_shape,
                                            model_complexity)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Params and FLOPs')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--shape', type=int, nargs='+', help='input H W (or one size)')
    parser.add_argument(
        '--part',
        choices=['model', 'backbone'],
        default='model',
        help='count the whole model (default) or its backbone only')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, help='override cfg')
    return parser.parse_args(argv)


def det_data_samples(h, w):
    from mmdet.structures import DetDataSample
    sample = DetDataSample()
    sample.set_metainfo(
        dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
             scale_factor=(1., 1.), batch_input_shape=(h, w)))
    return [sample]


def build_model(cfg):
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    return model.eval()


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    scope = cfg.get('default_scope', 'mmpretrain')
    if args.shape is None:
        shape = default_input_shape(cfg)
    elif len(args.shape) == 1:
        shape = (args.shape[0], args.shape[0])
    else:
        shape = tuple(args.shape[:2])
    model = build_model(cfg)
    samples = det_data_samples(*shape) if scope == 'mmdet' else None
    results = {}
    for attn in (True, False):
        for norms in (True, False):
            results[attn, norms] = model_complexity(
                model, shape, args.part, samples, attention_matmuls=attn,
                norms=norms)
    params = results[True, True]['params']
    split = '=' * 62
    print(split)
    print(f'Config: {args.config}')
    print(f'Input shape: {shape[0]}x{shape[1]}   part: {args.part}')
    print(f'Params: {params:,} ({params / 1e6:.2f} M)')
    print('FLOPs (multiply-accumulates, G):')
    print(f'  all ops, attention matmuls included : '
          f'{results[True, True]["flops"] / 1e9:.3f}')
    print(f'  all ops, attention matmuls left out : '
          f'{results[False, True]["flops"] / 1e9:.3f}')
    print(f'  no norms/pools, attention included  : '
          f'{results[True, False]["flops"] / 1e9:.3f}')
    print(f'  no norms/pools, attention left out  : '
          f'{results[False, False]["flops"] / 1e9:.3f}')
    print(split)
    return results


if __name__ == '__main__':
    main()
