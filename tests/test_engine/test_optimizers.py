"""Layer-wise lr decay through the backbone's ``get_layer_depth``
(vit_backbones.engine.optimizers), for models that have none themselves."""
import pytest
import torch.nn as nn

from vit_backbones.engine.optimizers import \
    BackboneLayerDecayOptimWrapperConstructor
from vit_backbones.models import HATNet

ARCH = dict(embed_dims=[16, 32, 48, 64], depths=[1, 1, 2, 1], head_dim=16,
            mlp_ratios=[2, 2, 2, 2], kernel_sizes=[3, 3, 3, 3])


class _Detector(nn.Module):
    """A model without get_layer_depth, as mmdet's and mmseg's are."""

    def __init__(self):
        super().__init__()
        self.backbone = HATNet(ARCH)
        self.neck = nn.Linear(4, 4)


def _lrs(model):
    constructor = BackboneLayerDecayOptimWrapperConstructor(
        dict(type='OptimWrapper',
             optimizer=dict(type='AdamW', lr=1.0, weight_decay=0.05)),
        dict(layer_decay_rate=0.5))
    wrapper = constructor(model)
    return {group['param_name']: group['lr_scale']
            for group in wrapper.optimizer.param_groups
            if 'param_name' in group}


def test_layer_decay_uses_the_backbone_depth():
    lrs = _lrs(_Detector())
    stem = next(k for k in lrs if k.startswith('backbone.patch_embed'))
    last = next(k for k in lrs if k.startswith('backbone.stages.3'))
    assert lrs[stem] < lrs[last] <= lrs['neck.weight'] == 1.0


def test_a_model_without_depth_says_so():
    with pytest.raises(NotImplementedError, match='get_layer_depth'):
        _lrs(nn.Sequential(nn.Linear(2, 2)))
