"""HVT, DHVT, ViL and HAT-Net backbones for OpenMMLab.

Importing this package registers the backbones into mmpretrain's ``MODELS``
registry (``type='HATNet'`` in mmpretrain configs, ``type='mmpretrain.HATNet'``
in mmdet/mmseg configs with
``custom_imports=dict(imports=['vit_backbones'], allow_failed_imports=False)``),
its optimizer-wrapper constructor and hooks into mmpretrain's registries, and
its classification models into mmpretrain's ``ModelHub`` (``get_model``,
``list_models``, ``inference_model``).
"""
from . import engine, models  # noqa: F401
from .model_zoo import register_models
from .version import __version__

register_models()

__all__ = ['__version__']
