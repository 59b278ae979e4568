"""What happens where one of our backbones receives weights.

Three routes reach a :class:`~vit_backbones.models.backbones.base.
VitBackbone`, and every one of them goes through here:

* its ``init_cfg=dict(type='Pretrained', ...)``: the backbone hands the
  entry to the initializer :class:`BackbonePretrainedInit` (registered in
  mmengine's ``WEIGHT_INITIALIZERS`` as :data:`PRETRAINED_INIT`, the name
  the backbone gives it), which runs :func:`load_pretrained`;
* ``mmengine.runner.load_checkpoint(model, ...)`` and the runner's
  ``load_from`` (mmpretrain's ``get_model(name, pretrained=...)``, the
  toolboxes' ``tools/test.py CKPT``, ``tools/train.py`` with ``load_from``
  or ``resume``): :func:`load_checkpoint_to_model`, which
  :mod:`vit_backbones.toolbox_changes` puts in the place of mmengine's
  ``_load_checkpoint_to_model``. It changes nothing for a model that holds
  none of our backbones: that one loads as mmengine alone loads it.
* the converter command lines (:mod:`vit_backbones.checkpoint.cli`).

Where a backbone receives them, a checkpoint is

1. recognised (:mod:`~vit_backbones.checkpoint.formats`): an official file
   of the backbone's own network is converted while it loads; an official
   file of another network is refused by name;
2. checked, all or nothing: after the backbone's own load hooks (its
   renamed layers migrated by ``_version``, position tables resized,
   ViL's classification layout adapted), every key of the
   backbone must be there with its shape, but for the layers a
   classification checkpoint lacks (output norms, pyramid). A missing key
   or a shape mismatch raises :class:`CheckpointMismatchError` naming the
   keys, whatever ``strict`` the caller passed (mmengine's
   ``load_checkpoint`` and mmpretrain's ``get_model`` load with
   ``strict=False`` and only log), so no route leaves a backbone
   half-loaded or random.
"""
import re
from collections import OrderedDict
from contextlib import contextmanager
from typing import Dict, List, Optional, Tuple

from mmengine.logging import print_log
from mmengine.model.weight_init import PretrainedInit
from mmengine.registry import WEIGHT_INITIALIZERS

from vit_backbones.converters.common import (CheckpointMismatchError,
                                             mismatch_message)
from vit_backbones.models.backbones.base import PRETRAINED_INIT, VitBackbone

from .formats import identify, is_mmengine_checkpoint, official_checkpoint

#: Keys of layers that one layout of a network has and another has not
#: (output norms ``norm{i}``, the simple pyramid): they may be missing
#: from, or extra in, a checkpoint of another layout.
OTHER_LAYOUT = re.compile(r'(norm\d+|pyramid)\.')


# ---------------------------------------------------------------------------
# Recognise
# ---------------------------------------------------------------------------
def as_backbone_format(backbone: VitBackbone, checkpoint, source: str):
    """``checkpoint`` for ``backbone``'s network: an official file of it
    converted (``{'state_dict': {'backbone.*', 'head.fc.*'}, 'meta'}``),
    anything else unchanged.

    Raises:
        CheckpointMismatchError: the file is an official file of another
            network.
    """
    name = type(backbone).__name__
    if is_mmengine_checkpoint(checkpoint):
        return checkpoint
    network, state_dict = identify(checkpoint, first=name)
    if network is None:
        return checkpoint
    if network != name:
        raise CheckpointMismatchError(
            f'{source} is an official {network} checkpoint; it cannot be '
            f'loaded into {name}.')
    return official_checkpoint(network, state_dict, source)


# ---------------------------------------------------------------------------
# Check (a load hook, added for the time of one load)
# ---------------------------------------------------------------------------
def check_fit(backbone: VitBackbone, state_dict: dict,
              prefix: str = '') -> None:
    """Raise :class:`CheckpointMismatchError` unless the ``prefix``-ed part
    of ``state_dict`` holds every key and shape of ``backbone`` (but for
    the layers of :data:`OTHER_LAYOUT`); its keys the backbone does not
    have are listed in the message too."""
    own = backbone.state_dict()
    ours = {k[len(prefix):]: v for k, v in state_dict.items()
            if k.startswith(prefix)}
    missing = [
        k for k in own if k not in ours and not OTHER_LAYOUT.match(k)
        and not k.endswith('num_batches_tracked')
    ]
    unexpected = [k for k in ours
                  if k not in own and not OTHER_LAYOUT.match(k)]
    shapes = [(k, tuple(v.shape), tuple(own[k].shape))
              for k, v in ours.items()
              if k in own and hasattr(v, 'shape') and v.shape != own[k].shape]
    if not (missing or shapes):
        return
    raise CheckpointMismatchError(mismatch_message(
        f'The checkpoint does not fit {type(backbone).__name__} '
        f'({len(own)} keys):', [prefix + k for k in missing],
        [prefix + k for k in unexpected],
        [(prefix + k, *rest) for k, *rest in shapes]) +
        '\nOnly the output norms and the pyramid may be missing '
        '(classification checkpoints do not have them).')


def _check_hook(module, state_dict, prefix, local_metadata, *args):
    check_fit(module, state_dict, prefix)


@contextmanager
def receiving(model):
    """While a state dict loads into ``model``: every backbone of ours in
    it checks the fit (:func:`check_fit`) after its own load hooks (the
    layer renames of its ``_load_from_state_dict``, the networks' position
    tables and layouts) have run."""
    handles = []
    try:
        for module in model.modules():
            if isinstance(module, VitBackbone):
                handles.append(module._register_load_state_dict_pre_hook(
                    _check_hook, with_module=True))
        yield
    finally:
        for handle in handles:
            handle.remove()


# ---------------------------------------------------------------------------
# Route 1: init_cfg=dict(type='Pretrained')
# ---------------------------------------------------------------------------
def _state_dict_of(checkpoint):
    if isinstance(checkpoint, dict) and 'state_dict' in checkpoint:
        return checkpoint['state_dict']
    return checkpoint


def _with_prefix(state_dict, prefix: str) -> 'OrderedDict':
    """The ``prefix``-ed part of ``state_dict`` without the prefix, with
    its module versions."""
    part = OrderedDict((k[len(prefix):], v) for k, v in state_dict.items()
                       if k.startswith(prefix))
    metadata = getattr(state_dict, '_metadata', None)
    if metadata is not None:
        # Module names have no trailing dot: 'backbone' becomes ''.
        part._metadata = OrderedDict(
            (name[len(prefix):], entry) for name, entry in metadata.items()
            if f'{name}.'.startswith(prefix))
    return part


def load_pretrained(backbone: VitBackbone,
                    checkpoint: str,
                    prefix: Optional[str] = None,
                    map_location='cpu') -> Tuple[List[str], List[str]]:
    """Load ``checkpoint`` (the ``prefix``-ed part of it) into
    ``backbone``: a file or a URL (``.pth`` or ``.safetensors``), in the
    mmpretrain layout, a full mmpretrain/mmdet/mmseg checkpoint, or an
    official file of the backbone's network (converted while it loads; its
    prefix is ``backbone.`` whatever ``prefix`` says).

    The load is strict but for the layers a classification checkpoint
    lacks (:func:`check_fit`), and keys the backbone does not have are
    refused; the new and the unused layers are logged.

    Returns:
        tuple: the missing and the unexpected keys (only ``OTHER_LAYOUT``
        layers can be either).
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    name = type(backbone).__name__
    where = f'{checkpoint}' + (f' (prefix {prefix!r})' if prefix else '')
    try:
        loaded = CheckpointLoader.load_checkpoint(checkpoint, map_location)
    except FileNotFoundError as error:
        raise FileNotFoundError(
            f'{error} {backbone.MISSING_CHECKPOINT_HINT}'.strip()) from None
    converted = as_backbone_format(backbone, loaded, checkpoint)
    # Only a conversion made here is an official file; a file our CLI
    # converted earlier names its network in meta too, and keeps the
    # caller's prefix.
    network = name if converted is not loaded else None
    if network is not None:
        prefix = 'backbone.'
    state_dict = _state_dict_of(converted)
    if prefix:
        prefix = prefix if prefix.endswith('.') else prefix + '.'
        state_dict = _with_prefix(state_dict, prefix)
        if not state_dict:
            raise CheckpointMismatchError(
                f'{checkpoint} has no key that starts with the prefix '
                f'{prefix!r}.')
    try:
        with receiving(backbone):
            missing, unexpected = backbone.load_state_dict(state_dict,
                                                           strict=False)
    except CheckpointMismatchError as error:
        raise CheckpointMismatchError(f'{where}: {error}') from None
    foreign = [k for k in unexpected if not OTHER_LAYOUT.match(k)]
    if foreign:
        raise CheckpointMismatchError(
            f'{where} does not fit {name}: unexpected keys ({len(foreign)}): '
            f'{foreign[:20]}. Only output norms and a pyramid may be extra '
            '(another layout of the network has them).')
    how = f' (converted from the official {network} format)' \
        if network else ''
    print_log(
        f'Loaded {where}{how}; new layers at their init: {sorted(missing)}; '
        f'unused layers of the checkpoint: {sorted(unexpected)}',
        logger='current')
    return missing, unexpected


@WEIGHT_INITIALIZERS.register_module(name=PRETRAINED_INIT)
class BackbonePretrainedInit(PretrainedInit):
    """mmengine's ``Pretrained`` initializer for our backbones: the
    ``init_cfg=dict(type='Pretrained', checkpoint, prefix=None,
    map_location='cpu')`` of a :class:`VitBackbone` runs
    :func:`load_pretrained` (official files converted, all or nothing)
    instead of mmengine's ``load_checkpoint(strict=False)``.

    Example:
        >>> from mmpretrain.registry import MODELS
        >>> backbone = MODELS.build(dict(
        ...     type='HATNet', arch='tiny', init_cfg=dict(
        ...         type='Pretrained', checkpoint='HAT-Net_Tiny.pth')))
        >>> backbone.init_weights()  # converted while it loads
    """

    def __call__(self, module):
        if not isinstance(module, VitBackbone):
            raise TypeError(f'{PRETRAINED_INIT} initialises the backbones of '
                            'vit_backbones; use Pretrained for '
                            f'{type(module).__name__}.')
        load_pretrained(module, self.checkpoint, self.prefix,
                        self.map_location)
        if hasattr(module, '_params_init_info'):
            from mmengine.model.weight_init import update_init_info
            update_init_info(module, init_info=self._get_init_info())


# ---------------------------------------------------------------------------
# Route 2: mmengine's load_checkpoint / Runner.load_checkpoint
# ---------------------------------------------------------------------------
def _backbones_of(model) -> Dict[str, VitBackbone]:
    return OrderedDict((name, module)
                       for name, module in model.named_modules()
                       if isinstance(module, VitBackbone))


def _to_model_layout(checkpoint, converted: dict, model,
                     name: str) -> dict:
    """A converted official classifier (``backbone.*``, ``head.*``) laid
    out for ``model``, whose backbone is the submodule ``name``: the
    backbone keys under ``name``, the head kept where the model has it."""
    own = model.state_dict()
    prefix = f'{name}.' if name else ''
    state_dict = OrderedDict()
    for key, value in converted['state_dict'].items():
        if key.startswith('backbone.'):
            state_dict[prefix + key[len('backbone.'):]] = value
        elif key in own:
            state_dict[key] = value
    return dict(converted, state_dict=state_dict)


def load_checkpoint_to_model(original, model, checkpoint, *args, **kwargs):
    """mmengine's ``_load_checkpoint_to_model`` (``original``), for a
    model that holds one of our backbones: an official file of its network
    converted to the model's layout, the fit checked all or nothing (see
    the module docstring). Any other model is handed to ``original``
    untouched."""
    backbones = _backbones_of(model)
    if not backbones:
        return original(model, checkpoint, *args, **kwargs)
    name, backbone = next(iter(backbones.items()))
    converted = as_backbone_format(backbone, checkpoint, 'The checkpoint')
    if converted is not checkpoint:
        checkpoint = _to_model_layout(checkpoint, converted, model, name)
        print_log(f'The checkpoint is an official {type(backbone).__name__} '
                  'file: converted while it loads.', logger='current')
    with receiving(model):
        return original(model, checkpoint, *args, **kwargs)
