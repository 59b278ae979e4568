from . import backbones, heads  # noqa: F401
from .backbones import *  # noqa: F401,F403  (every backbone of the table)
from .backbones import __all__ as _backbones
from .utils import SimpleFeaturePyramid  # noqa: F401

__all__ = [*_backbones, 'SimpleFeaturePyramid']
