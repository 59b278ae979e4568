# Each network module registers its backbone into mmpretrain's MODELS.
from .vil import ViL

__all__ = ['ViL']
