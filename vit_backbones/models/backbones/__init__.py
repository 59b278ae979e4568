# Each network module registers its backbone into mmpretrain's MODELS.
from .dhvt import DHVT

__all__ = ['DHVT']
