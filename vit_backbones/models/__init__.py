from . import backbones  # noqa: F401
from .utils import SimpleFeaturePyramid  # noqa: F401
