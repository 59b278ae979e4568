# Each network module registers its backbone into mmpretrain's MODELS.
from .dhvt import DHVT
from .hvt import HVT

__all__ = ['DHVT', 'HVT']
