from . import backbones, heads  # noqa: F401
from .backbones import DHVT, HVT, HATNet, ViL  # noqa: F401
from .utils import SimpleFeaturePyramid  # noqa: F401
