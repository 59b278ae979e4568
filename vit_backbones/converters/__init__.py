"""Official-checkpoint -> mmpretrain converters (one module per network,
one API: see :mod:`vit_backbones.converters.common`). They read and write
no file: the command lines (:func:`vit_backbones.checkpoint.cli.run_cli`)
and the loading layer (:mod:`vit_backbones.checkpoint`) do."""
from .common import (CheckpointMismatchError, backbone_state_dict,
                     check_classifier, check_state_dict, key_by_rules,
                     mismatch_message, rename_keys, strip_prefix,
                     unwrap_state_dict)

__all__ = [
    'CheckpointMismatchError', 'backbone_state_dict', 'check_classifier',
    'check_state_dict', 'key_by_rules', 'mismatch_message', 'rename_keys',
    'strip_prefix', 'unwrap_state_dict'
]
