"""Layer-wise learning-rate decay for classifiers, detectors and segmentors.

mmpretrain's ``LearningRateDecayOptimWrapperConstructor`` asks the *model*
for ``get_layer_depth``; mmpretrain classifiers have it, mmdet detectors and
mmseg segmentors do not, and mmdet's/mmseg's own constructors only know a
few backbones by class name. This subclass falls back to
``model.backbone.get_layer_depth(name, prefix='backbone.')``, which every
backbone of this package implements, so the same ``paramwise_cfg`` works in
all three toolboxes::

    optim_wrapper = dict(
        optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
        constructor='mmpretrain.BackboneLayerDecayOptimWrapperConstructor',
        paramwise_cfg=dict(layer_decay_rate=0.9))

(drop the ``mmpretrain.`` prefix in mmpretrain configs).
"""
from functools import partial

from mmpretrain.engine.optimizers import \
    LearningRateDecayOptimWrapperConstructor
from mmpretrain.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class BackboneLayerDecayOptimWrapperConstructor(
        LearningRateDecayOptimWrapperConstructor):
    """Layer-wise lr decay driven by the backbone's ``get_layer_depth``."""

    def add_params(self, params, module, prefix='', get_layer_depth=None,
                   **kwargs):
        if get_layer_depth is None and not hasattr(module, 'get_layer_depth'):
            backbone = getattr(module, 'backbone', None)
            if backbone is None or not hasattr(backbone, 'get_layer_depth'):
                raise NotImplementedError(
                    f'{type(module).__name__} has no get_layer_depth and no '
                    'backbone with one; layer-wise lr decay needs either.')
            get_layer_depth = partial(
                backbone.get_layer_depth, prefix='backbone.')
        super().add_params(
            params, module, prefix=prefix, get_layer_depth=get_layer_depth,
            **kwargs)
