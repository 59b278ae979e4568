# Each network module registers its backbone into mmpretrain's MODELS.
from .hat_net import HATNet
from .hvt import HVT

__all__ = ['HATNet', 'HVT']
