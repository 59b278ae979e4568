from .epoch_seed import EpochSeedHook
from .prediction_pictures import PredictionPicturesHook
from .vil_random_shift import ViLRandomShiftHook

__all__ = ['EpochSeedHook', 'PredictionPicturesHook', 'ViLRandomShiftHook']
