# Each network module registers its backbone into mmpretrain's MODELS.
__all__ = []
