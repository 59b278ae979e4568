"""Parameter and FLOP counting for configs of this package.

FLOPs are multiply-accumulates, counted by mmengine's jit-based
``FlopAnalyzer`` (the convention of OpenMMLab model zoos and of the four
papers). Two switches reproduce the papers' conventions:

* ``attention_matmuls``: whether the ``q @ k^T`` and ``attn @ v`` products
  count. HVT and DHVT's README count them; HAT-Net's and DHVT's papers do
  not. The attention of this package runs through explicit matmuls while
  counting them (see :mod:`vit_backbones.models.utils.attention`).
* ``norms``: whether normalisation layers (BN/GN/LN) and pooling count;
  papers that count "convs and linears only" leave them out.
"""
from collections import Counter
from typing import Optional, Sequence

import torch
import torch.nn as nn
from mmengine.analysis import FlopAnalyzer, parameter_count

from vit_backbones.models.utils.attention import attention_as_matmul

_NORM_AND_POOL_OPS = ('aten::batch_norm', 'aten::group_norm',
                      'aten::layer_norm', 'aten::instance_norm',
                      'aten::upsample_nearest2d', 'aten::upsample_bilinear2d',
                      'aten::adaptive_avg_pool2d', 'aten::grid_sampler')


def _count_nothing(inputs, outputs):
    return Counter()


DEFAULT_SHAPES = dict(mmdet=(800, 1280), mmseg=(512, 512))
NATIVE_SIZES = dict(CIFAR10=32, CIFAR100=32, MNIST=28, FashionMNIST=28)


def _as_hw(size) -> tuple:
    if isinstance(size, int):
        return (size, size)
    return tuple(size)[:2]


def default_input_shape(cfg) -> tuple:
    """The ``(H, W)`` a config's model is measured at: 800x1280 for
    detectors and 512x512 for segmentors (the papers' settings); for
    classifiers the test pipeline's final crop or resize, the dataset's
    native size when the test pipeline has none (CIFAR: 32), else 224."""
    scope = cfg.get('default_scope', 'mmpretrain')
    if scope in DEFAULT_SHAPES:
        return DEFAULT_SHAPES[scope]
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader') or {}
    dataset = loader.get('dataset', {})
    shape = None
    for step in dataset.get('pipeline', []):
        if step['type'] == 'CenterCrop':
            shape = _as_hw(step['crop_size'])
        elif step['type'] == 'Resize' and 'scale' in step:
            scale = step['scale']
            shape = _as_hw(scale)[::-1] if not isinstance(scale, int) \
                else _as_hw(scale)
    if shape is not None:
        return shape
    native = NATIVE_SIZES.get(str(dataset.get('type', '')).split('.')[-1])
    return _as_hw(native) if native else (224, 224)


class _TensorForward(nn.Module):
    """Expose ``model(inputs, data_samples, mode='tensor')`` as a module of
    one tensor argument, which jit tracing needs."""

    def __init__(self, model, data_samples=None):
        super().__init__()
        self.model = model
        self.data_samples = data_samples

    def forward(self, inputs):
        out = self.model(inputs, self.data_samples, mode='tensor')
        return _tensors_only(out)


def _tensors_only(out):
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (list, tuple)):
        flat = []
        for item in out:
            item = _tensors_only(item)
            if isinstance(item, tuple):
                flat.extend(item)
            elif item is not None:
                flat.append(item)
        return tuple(flat)
    return None


def count_flops(module: nn.Module,
                inputs,
                attention_matmuls: bool = True,
                norms: bool = True) -> int:
    """Multiply-accumulates of ``module(*inputs)`` (one forward)."""
    if isinstance(inputs, torch.Tensor):
        inputs = (inputs, )
    analyzer = FlopAnalyzer(module, inputs)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    if not norms:
        # A handle that counts nothing. (``set_op_handle(op=None)`` does not
        # work in mmengine 0.10.7: it marks the op as ignored but keeps the
        # default handle, which is consulted first.)
        analyzer.set_op_handle(
            **{op: _count_nothing
               for op in _NORM_AND_POOL_OPS})
    with attention_as_matmul(attention_matmuls), torch.no_grad():
        return int(analyzer.total())


def count_params(module: nn.Module) -> int:
    """Number of parameters, shared ones counted once."""
    return int(parameter_count(module)[''])


def model_complexity(model: nn.Module,
                     input_shape: Sequence[int],
                     part: str = 'model',
                     data_samples: Optional[list] = None,
                     attention_matmuls: bool = True,
                     norms: bool = True) -> dict:
    """Params and FLOPs of a built OpenMMLab model.

    Args:
        model: a classifier, detector or segmentor (in eval mode).
        input_shape: ``(H, W)`` of one input image (batch size 1).
        part: ``'model'`` for the whole network as ``mode='tensor'`` runs it
            (classifier with its head, detector with its dense heads,
            segmentor with its decode head), or ``'backbone'``.
        data_samples: data samples for models whose tensor mode needs them
            (two-stage detectors).
    """
    h, w = input_shape
    inputs = torch.randn(1, 3, h, w)
    if part == 'backbone':
        module = model.backbone
        params = count_params(module)
    else:
        module = _TensorForward(model, data_samples)
        params = count_params(model)
    flops = count_flops(module, inputs, attention_matmuls, norms)
    return dict(params=params, flops=flops)


# How the papers and official READMEs count FLOPs, as switches of
# :func:`count_flops` (the metafiles' ``Reported FLOPs Convention``). ViL's
# paper charges a Longformer query for its valid window keys only, which no
# switch reproduces (configs/vil/README.md works it out by hand).
CONVENTIONS = {
    'all ops': dict(),
    'attention matmuls left out': dict(attention_matmuls=False),
    'norms left out': dict(norms=False),
}
