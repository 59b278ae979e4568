from .vil_random_shift import ViLRandomShiftHook

__all__ = ['ViLRandomShiftHook']
