"""Official-checkpoint -> mmpretrain converters (one module per network)."""
from .common import (CheckpointMismatchError, check_state_dict, run_cli,
                     save_checkpoint, strip_prefix, to_classifier_state_dict,
                     unwrap_state_dict)

__all__ = [
    'CheckpointMismatchError', 'check_state_dict', 'run_cli',
    'save_checkpoint', 'strip_prefix', 'to_classifier_state_dict',
    'unwrap_state_dict'
]
