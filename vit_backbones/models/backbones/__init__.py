# Each network module registers its backbone into mmpretrain's MODELS.
from .hvt import HVT

__all__ = ['HVT']
