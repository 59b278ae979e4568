from .prediction_pictures import PredictionPicturesHook
from .vil_random_shift import ViLRandomShiftHook

__all__ = ['PredictionPicturesHook', 'ViLRandomShiftHook']
