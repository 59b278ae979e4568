from . import backbones, heads  # noqa: F401
from .utils import SimpleFeaturePyramid  # noqa: F401
