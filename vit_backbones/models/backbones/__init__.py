# Each network module registers its backbone into mmpretrain's MODELS.
from .dhvt import DHVT
from .hat_net import HATNet
from .hvt import HVT
from .vil import ViL

__all__ = ['DHVT', 'HATNet', 'HVT', 'ViL']
