"""Stand-ins for what the official code imports, used only by
``benchmark_official.py`` (which loads this file beside it).

The official repositories are imported at run time from a checkout the
user names; their files import helpers this package does not need or does
not want to depend on. Each function here puts a minimal module into
``sys.modules`` before the official file is imported:

* :func:`install_timm`: the helpers they import from old timm releases:
  ``timm.models.layers`` (mmcv's ``DropPath``, torch's ``trunc_normal_``, a
  LeCun normal init, ``to_2tuple``), ``timm.models.registry``
  (``register_model`` as a no-op), ``timm.models.helpers``
  (``build_model_with_cfg`` without pretrained weights, ``named_apply``),
  ``timm.models.vision_transformer._cfg`` and the ImageNet mean/std of
  ``timm.data``. The installed timm, if any, does not matter.
* :func:`install_hvt_params`: HVT's ``params`` module, which parses
  ``sys.argv`` when it is imported; here a namespace with the pooling
  settings the benchmark sets per variant.
* :func:`install_torchprofile`: DHVT's ``helpers.py`` imports torchprofile
  for a FLOP counter the benchmark does not call.

Nothing of the official code is here.
"""
import argparse
import math
import sys
import types

import torch.nn as nn


def _named_apply(fn, module, name='', depth_first=True, include_root=False):
    if not depth_first and include_root:
        fn(module=module, name=name)
    for child_name, child in module.named_children():
        child_name = '.'.join((name, child_name)) if name else child_name
        _named_apply(fn, child, child_name, depth_first, include_root=True)
    if depth_first and include_root:
        fn(module=module, name=name)
    return module


def _build_model_with_cfg(model_cls, variant, pretrained, default_cfg=None,
                          pretrained_filter_fn=None,
                          pretrained_custom_load=False, **kwargs):
    if pretrained:
        raise ValueError('the benchmark builds official models with random '
                         'weights only')
    return model_cls(**kwargs)


def _lecun_normal_(tensor):
    fan_in = nn.init._calculate_fan_in_and_fan_out(tensor)[0]
    return nn.init.trunc_normal_(tensor, std=math.sqrt(1. / fan_in))


def _no_pretrained_input_conv(*args, **kwargs):
    raise NotImplementedError('not needed without pretrained weights')


def install_timm():
    """Put minimal ``timm`` modules in ``sys.modules`` for the imports of
    the four official files."""
    from mmcv.cnn.bricks import DropPath

    def to_2tuple(x):
        return tuple(x) if isinstance(x, (tuple, list)) else (x, x)

    modules = {
        'timm': dict(__version__='stand-in'),
        'timm.data': dict(
            IMAGENET_DEFAULT_MEAN=(0.485, 0.456, 0.406),
            IMAGENET_DEFAULT_STD=(0.229, 0.224, 0.225),
            IMAGENET_INCEPTION_MEAN=(0.5, 0.5, 0.5),
            IMAGENET_INCEPTION_STD=(0.5, 0.5, 0.5)),
        'timm.models': {},
        'timm.models.layers': dict(
            DropPath=DropPath, trunc_normal_=nn.init.trunc_normal_,
            lecun_normal_=_lecun_normal_, to_2tuple=to_2tuple),
        'timm.models.registry': dict(register_model=lambda fn: fn),
        'timm.models.vision_transformer': dict(_cfg=lambda **kw: dict(kw)),
        'timm.models.helpers': dict(
            build_model_with_cfg=_build_model_with_cfg,
            named_apply=_named_apply,
            adapt_input_conv=_no_pretrained_input_conv),
    }
    for name, attrs in modules.items():
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        sys.modules[name] = module
    sys.modules['timm'].models = sys.modules['timm.models']
    sys.modules['timm.models'].layers = sys.modules['timm.models.layers']


def install_hvt_params():
    """HVT's ``params.args``, which its ``models.py`` reads the pooling
    settings from (the benchmark overwrites them per variant)."""
    params = types.ModuleType('params')
    params.args = argparse.Namespace(pool_block_width=12, pool_kernel_size=3)
    sys.modules['params'] = params


def install_torchprofile():
    """An empty ``torchprofile`` (only its FLOP counter is imported)."""
    stub = types.ModuleType('torchprofile')
    stub.profile_macs = None
    sys.modules.setdefault('torchprofile', stub)
