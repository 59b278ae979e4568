"""HVT, DHVT, ViL and HAT-Net backbones for OpenMMLab.

Importing this package registers the backbones into mmpretrain's ``MODELS``
registry (``type='HATNet'`` in mmpretrain configs, ``type='mmpretrain.HATNet'``
in mmdet/mmseg configs with
``custom_imports=dict(imports=['vit_backbones'], allow_failed_imports=False)``)
and the optimizer-wrapper constructor into mmpretrain's registry.
"""
from . import engine, models  # noqa: F401
from .version import __version__

__all__ = ['__version__']
