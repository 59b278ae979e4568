# Each network module registers its backbone into mmpretrain's MODELS.
from .hat_net import HATNet

__all__ = ['HATNet']
