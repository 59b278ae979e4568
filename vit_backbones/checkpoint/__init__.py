"""The loading layer: everything between a checkpoint file and one of our
backbones.

* :mod:`~vit_backbones.checkpoint.files`: reading files and URLs safely
  (allowlisted ``weights_only``, safetensors, downloads once per machine,
  cached only when complete) and writing them atomically.
* :mod:`~vit_backbones.checkpoint.formats`: what a checkpoint is (an
  mmengine checkpoint, an official file of one of our networks) and the
  conversion of official files.
* :mod:`~vit_backbones.checkpoint.receive`: what happens where one of our
  backbones receives weights: conversion, the layer-rename migration and
  the all-or-nothing fit check, for ``init_cfg=dict(type='Pretrained')``,
  ``load_checkpoint``/``load_from``/``get_model`` and the CLIs.
* :mod:`~vit_backbones.checkpoint.cli`: the converters' command line.

The layer imports the converters and the models; neither imports it
(``tests/test_layering.py``).
"""
from vit_backbones.converters.common import CheckpointMismatchError

from .files import (CheckpointDownloadError, CheckpointFileError,
                    UnsafeCheckpointError, add_unsafe_load_argument,
                    cache_file_name, load_checkpoint_file, save_checkpoint)
from .formats import identify, is_mmengine_checkpoint
from .receive import BackbonePretrainedInit, check_fit, load_pretrained

__all__ = [
    'BackbonePretrainedInit', 'CheckpointDownloadError', 'CheckpointFileError',
    'CheckpointMismatchError', 'UnsafeCheckpointError',
    'add_unsafe_load_argument', 'cache_file_name', 'check_fit', 'identify',
    'is_mmengine_checkpoint', 'load_checkpoint_file', 'load_pretrained',
    'save_checkpoint'
]
