"""Official-checkpoint -> mmpretrain converters (one module per network,
one API: see :mod:`vit_backbones.converters.common`)."""
from .common import (CheckpointMismatchError, backbone_state_dict,
                     check_classifier, check_state_dict, key_by_rules,
                     rename_keys, run_cli, save_checkpoint, strip_prefix,
                     unwrap_state_dict)

__all__ = [
    'CheckpointMismatchError', 'backbone_state_dict', 'check_classifier',
    'check_state_dict', 'key_by_rules', 'rename_keys', 'run_cli',
    'save_checkpoint', 'strip_prefix', 'unwrap_state_dict'
]
