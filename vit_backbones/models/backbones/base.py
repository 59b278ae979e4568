"""What the four backbones share: the public surface of the backbone
contract (``docs/backbone_contract.md``).

:class:`VitBackbone` holds the behaviour that must be the same in every
network: the forward pass (stem, then the units that ``out_indices`` counts
up to the last requested one, then the outputs in the order asked for),
the init order, ``frozen_stages``, ``norm_eval``, gradient checkpointing,
``out_type``, the per-output norms and the simple feature pyramid.
:class:`VitStage` is the base of a hierarchical network's stage, which runs
its own blocks so that a hook on ``backbone.stages[i]`` sees stage ``i``.
The helpers :func:`resolve_arch`, :func:`normalize_indices` and
:func:`renamed_argument` parse the constructor arguments the same way
everywhere.
"""
import warnings
from contextlib import contextmanager, nullcontext
from typing import (Callable, Dict, Iterable, List, Optional, Sequence,
                    Tuple, Union)

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from mmengine.utils.dl_utils.parrots_wrapper import _BatchNorm
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from mmpretrain.models.utils import build_norm_layer

from ..utils import SimpleFeaturePyramid, check_input

# Old ``out_type`` names, kept working with a warning.
_OUT_TYPE_ALIASES = {'avg_token': 'avg_featmap'}


def resolve_arch(arch: Union[str, dict], arch_zoo: dict,
                 essential_keys: Iterable[str], name: str) -> dict:
    """Return the settings of ``arch``.

    ``arch`` is a name of ``arch_zoo`` (case-insensitive) or a dict holding
    at least ``essential_keys``. An unknown name raises ``ValueError`` and a
    dict with missing keys raises ``KeyError``; both list what is accepted.
    """
    if isinstance(arch, str):
        key = arch.lower()
        if key not in arch_zoo:
            raise ValueError(f'Unknown {name} arch {arch!r}. Choose one of '
                             f'{sorted(arch_zoo)} or pass a dict with the '
                             f'keys {sorted(essential_keys)}.')
        return dict(arch_zoo[key])
    if not isinstance(arch, dict):
        raise TypeError(f'{name} arch must be a str or a dict, '
                        f'got {type(arch).__name__}.')
    missing = set(essential_keys) - set(arch)
    if missing:
        raise KeyError(f'Custom {name} arch misses the keys '
                       f'{sorted(missing)}; it needs '
                       f'{sorted(essential_keys)}.')
    return dict(arch)


def normalize_indices(indices: Union[int, Sequence[int]],
                      length: int,
                      what: str = 'out_indices',
                      sort: bool = True,
                      unique: bool = True) -> List[int]:
    """Turn an int or a sequence (negative values allowed) into a list of
    indices in ``[0, length)``; raise ``ValueError`` otherwise.

    Args:
        indices (int | Sequence[int]): the indices.
        length (int): how many entries there are.
        what (str): the argument's name, for the messages.
            Defaults to 'out_indices'.
        sort (bool): sort the result. Defaults to True.
        unique (bool): refuse duplicates. Defaults to True.
    """
    if isinstance(indices, int):
        indices = [indices]
    result = []
    for index in indices:
        i = index + length if index < 0 else index
        if not 0 <= i < length:
            raise ValueError(f'{what} entry {index} is out of range for '
                             f'{length} entries.')
        result.append(i)
    if unique and len(set(result)) != len(result):
        raise ValueError(f'{what} {tuple(indices)} has duplicates.')
    return sorted(result) if sort else result


def renamed_argument(owner: str, old_name: str, old_value, new_name: str,
                     new_value, convert: Callable = lambda value: value):
    """The value of an argument that was renamed.

    ``old_value`` is ``None`` when the old name was not given; otherwise a
    ``FutureWarning`` says what to write instead and ``convert(old_value)``
    is returned. Giving both names is an error.
    """
    if old_value is None:
        return new_value
    if new_value is not None:
        raise ValueError(f'{owner}: give {new_name!r} only; {old_name!r} is '
                         'its deprecated name.')
    new = convert(old_value)
    warnings.warn(
        f'{owner}: {old_name}={old_value!r} is deprecated, write '
        f'{new_name}={new!r}.', FutureWarning, stacklevel=3)
    return new


@contextmanager
def _keep_batchnorm_stats(module: nn.Module):
    """Undo the running-statistics update of a recomputed forward.

    Gradient checkpointing runs a block's forward again in training mode
    during the backward; without this the BN running statistics would be
    updated twice per step.
    """
    saved = [(m, m.running_mean.clone(), m.running_var.clone(),
              m.num_batches_tracked.clone()) for m in module.modules()
             if isinstance(m, _BatchNorm) and m.track_running_stats]
    try:
        yield
    finally:
        with torch.no_grad():
            for m, mean, var, count in saved:
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
                m.num_batches_tracked.copy_(count)


def checkpoint_block(block: nn.Module, *args, enabled: bool = True):
    """``block(*args)``, through ``torch.utils.checkpoint`` (non-reentrant)
    when ``enabled`` and gradients are on.

    A block with BatchNorm layers gets its running statistics restored
    after the recomputation, so they are updated once per step.
    """
    if not (enabled and torch.is_grad_enabled()):
        return block(*args)
    has_bn = any(
        isinstance(m, _BatchNorm) and m.track_running_stats
        for m in block.modules())
    if has_bn:

        def context_fn():
            return nullcontext(), _keep_batchnorm_stats(block)
    else:
        context_fn = cp.noop_context_fn
    return cp.checkpoint(
        block, *args, use_reentrant=False, context_fn=context_fn)


class VitStage(BaseModule):
    """Base of a stage of a hierarchical backbone (ViL, HAT-Net).

    A stage is a module that runs itself: ``backbone.stages[i](x)`` maps the
    previous stage's ``(B, C, H, W)`` map to this stage's, so forward hooks
    on it (Grad-CAM's ``--target-layers backbone.stages.3``, feature
    extractors) see what the backbone outputs for ``out_indices=i`` before
    the output norm. Subclasses run their blocks through :meth:`run_block`,
    which applies the backbone's ``with_cp``.

    Args:
        with_cp (bool): Gradient checkpointing per block. The backbone keeps
            it in step with its own ``with_cp``. Defaults to False.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self, with_cp: bool = False, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.with_cp = with_cp

    def run_block(self, block: nn.Module, *args):
        """``block(*args)``, checkpointed while ``with_cp`` is set and the
        stage trains."""
        return checkpoint_block(
            block, *args, enabled=self.with_cp and self.training)


#: The weight initializer (a name in mmengine's ``WEIGHT_INITIALIZERS``)
#: that runs a backbone's ``init_cfg=dict(type='Pretrained')``. The loading
#: layer (:mod:`vit_backbones.checkpoint`) registers it; the models name it
#: and import nothing of what loads or converts them.
PRETRAINED_INIT = 'VitBackbonePretrained'


class VitBackbone(BaseBackbone):
    """Base of the four backbones.

    What it gives every network, with one meaning:

    * ``frozen_stages`` as in mmdet's ResNet/Swin: ``-1`` freezes nothing,
      ``0`` the stem, ``i`` the stem and the first ``i`` stages with their
      output norms. Subclasses say what a stage is in :meth:`frozen_parts`.
    * ``norm_eval``: BatchNorm layers stay in eval mode while training.
    * ``with_cp``: per-block ``torch.utils.checkpoint`` (non-reentrant)
      through :meth:`checkpointed`; BN running statistics are updated once
      per step, not again by the recomputation.
    * The init order: :meth:`init_official_weights` (the official
      initialisation), then ``init_cfg`` of any type; a ``Pretrained`` load
      comes last, so it is never overwritten, and a second
      ``init_weights`` call changes nothing.
    * ``out_type`` (:attr:`OUT_TYPES` lists what a network supports) and
      the per-output norms ``norm{i}`` of ``out_norm_cfg``
      (:meth:`add_out_norms`).
    * ``out_indices`` (:meth:`set_outputs`): the outputs come in the order
      given, an index may repeat only where ``pyramid_scales`` tells the
      copies apart, and the units after the last requested one do not run.
    * :meth:`forward`: the stem (:meth:`forward_stem`), the units up to the
      last requested output (:meth:`forward_unit`), each requested output
      taken once (:meth:`format_output`), then the simple feature pyramid
      (``pyramid_scales``) where the network has one. The units are the
      modules ``out_indices`` counts, :attr:`units`: blocks (HVT, DHVT,
      ``layers``) or stages (ViL, HAT-Net, ``stages``); each runs as a
      module, so a forward hook on ``backbone.layers[i]`` or
      ``backbone.stages[i]`` fires.

    Subclasses build their layers, call :meth:`set_outputs` (and
    :meth:`add_out_norms`, :meth:`add_pyramid`) and end their constructor
    with ``self._freeze_stages()``, so that frozen parameters are frozen
    before an optimizer or a DDP wrapper sees them.

    Args:
        num_stages (int): The largest valid ``frozen_stages``.
        frozen_stages (int): See above. Defaults to -1.
        norm_eval (bool): Keep BatchNorm layers in eval mode while training
            (only BN has running statistics). Defaults to False.
        with_cp (bool): Gradient checkpointing per block, for memory.
            Defaults to False.
        init_cfg (dict | list[dict], optional): Applied after the official
            initialisation. Defaults to None.
    """
    #: The ``out_type`` values a network supports.
    OUT_TYPES: Tuple[str, ...] = ('featmap', 'avg_featmap')
    #: The attribute holding the modules ``out_indices`` counts.
    UNITS: str = 'stages'
    #: Tokens before the patch tokens in the sequences of the last blocks
    #: (a class token, global tokens); 0 where there are none. mmpretrain's
    #: Grad-CAM (``vis_cam.py``) reads it to drop them and otherwise
    #: assumes 1.
    num_extra_tokens: int = 0
    #: The layout version of the state dict, saved in its metadata; raise
    #: it with every rename and say the rename in :attr:`RENAMED_LAYERS`.
    _version: int = 1
    #: ``{version: {old top-level name: new name}}``: the layers renamed
    #: when ``_version`` became ``version``. A checkpoint of an older (or
    #: unknown) version is migrated on load, so renames never break it.
    RENAMED_LAYERS: Dict[int, Dict[str, str]] = {}
    #: Added by the loading layer to the error of a ``Pretrained``
    #: checkpoint that does not exist: where the network's ImageNet weights
    #: come from.
    MISSING_CHECKPOINT_HINT: str = (
        'Point init_cfg (checkpoint_file in the configs) at an official '
        'file or its URL (converted while it loads), or at a converted or '
        'trained checkpoint; configs/<network>/README.md lists the '
        'official weights.')

    # What every subclass sets in its constructor (the forward, the
    # outputs and the tools read them).
    #: The image channels the backbone takes.
    in_channels: int
    #: The smallest ``(H, W)`` input the backbone takes.
    min_size: Tuple[int, int]
    #: The output format, one of :attr:`OUT_TYPES`
    #: (:meth:`resolve_out_type`).
    out_type: str
    #: The requested outputs (:meth:`set_outputs`).
    out_indices: List[int]
    #: The config of the output norms ``norm{i}``, or None
    #: (:meth:`add_out_norms`).
    out_norm_cfg: Optional[dict]

    def __init__(self,
                 num_stages: int,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if not -1 <= frozen_stages <= num_stages:
            raise ValueError(f'frozen_stages must be in [-1, {num_stages}] '
                             f'(-1: none, 0: stem, i: stem + {num_stages} '
                             f'stages), got {frozen_stages}.')
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.pyramid = None
        self.pyramid_scales = None

    @property
    def with_cp(self) -> bool:
        """Gradient checkpointing per block; setting it sets it in every
        stage too."""
        return self._with_cp

    @with_cp.setter
    def with_cp(self, enabled: bool) -> None:
        self._with_cp = enabled
        for module in self.modules():
            if isinstance(module, VitStage):
                module.with_cp = enabled

    @property
    def units(self) -> nn.ModuleList:
        """The modules ``out_indices`` counts (blocks or stages)."""
        return getattr(self, self.UNITS)

    # ------------------------------------------------------------------
    # Outputs
    # ------------------------------------------------------------------
    def resolve_out_type(self, out_type: str) -> str:
        """Check ``out_type`` against :attr:`OUT_TYPES`; old names
        (``'avg_token'``) are mapped to the new ones with a warning."""
        name = type(self).__name__
        if out_type in _OUT_TYPE_ALIASES:
            new = _OUT_TYPE_ALIASES[out_type]
            warnings.warn(
                f'{name}: out_type={out_type!r} is deprecated, write '
                f'out_type={new!r}.', FutureWarning, stacklevel=3)
            out_type = new
        if out_type not in self.OUT_TYPES:
            raise ValueError(f'{name} out_type must be one of '
                             f'{self.OUT_TYPES}, got {out_type!r}.')
        return out_type

    def set_outputs(self,
                    out_indices: Union[int, Sequence[int]],
                    num_units: int,
                    pyramid_scales: Optional[Sequence[float]] = None
                    ) -> None:
        """Check and set ``out_indices`` (and ``pyramid_scales``).

        The outputs come in the order of ``out_indices`` (negative entries
        count from the end). An index may repeat only when
        ``pyramid_scales``, one factor per entry, tells the copies apart
        (2-D HVT takes two scales of one block); a pyramid needs
        ``out_type='featmap'``. Call it after :meth:`resolve_out_type`.
        """
        indices = normalize_indices(
            out_indices, num_units, sort=False, unique=False)
        keys = indices
        if pyramid_scales is not None:
            if self.out_type != 'featmap':
                raise ValueError("pyramid_scales needs out_type='featmap'.")
            pyramid_scales = tuple(pyramid_scales)
            if len(pyramid_scales) != len(indices):
                raise ValueError(
                    f'pyramid_scales {pyramid_scales} needs one entry per '
                    f'out_indices entry {tuple(indices)}.')
            keys = list(zip(indices, pyramid_scales))
        if len(set(keys)) != len(keys):
            raise ValueError(
                f'out_indices {tuple(indices)} has duplicates' +
                (' that pyramid_scales does not tell apart.'
                 if pyramid_scales is not None else '.'))
        self.out_indices = indices
        self.pyramid_scales = pyramid_scales

    def add_pyramid(self, channels: int, norm_cfg: dict) -> None:
        """Build the :class:`SimpleFeaturePyramid` of ``pyramid_scales``
        (nothing when there are none)."""
        if self.pyramid_scales is not None:
            self.pyramid = SimpleFeaturePyramid(
                channels, self.pyramid_scales, norm_cfg=norm_cfg)

    def add_out_norms(self, out_norm_cfg: Optional[dict],
                      channels: Sequence[Tuple[int, int]]) -> None:
        """Add a norm ``norm{i}`` of ``c`` channels for each ``(i, c)`` of
        ``channels`` (nothing when ``out_norm_cfg`` is None): one per index,
        in index order, whatever the order and repeats of ``out_indices``
        that ``channels`` follows."""
        self.out_norm_cfg = out_norm_cfg
        if out_norm_cfg is None:
            return
        for index, num in sorted(dict(channels).items()):
            self.add_module(f'norm{index}',
                            build_norm_layer(out_norm_cfg, num))

    def out_norm(self, index: int, x: torch.Tensor) -> torch.Tensor:
        """``norm{index}(x)``, or ``x`` where that output has no norm."""
        norm = getattr(self, f'norm{index}', None)
        return x if norm is None else norm(x)

    # ------------------------------------------------------------------
    # Forward
    # ------------------------------------------------------------------
    def forward_stem(self, x: torch.Tensor):
        """The checked image -> the state the first unit takes."""
        raise NotImplementedError

    def forward_unit(self, index: int, state):
        """Run unit ``index`` (a module of :attr:`units`) on ``state``."""
        raise NotImplementedError

    def format_output(self, index: int, state) -> torch.Tensor:
        """Output ``index`` (per ``out_type``, with ``norm{index}``) from
        the state after unit ``index``."""
        raise NotImplementedError

    def unit_stride(self, index: int) -> int:
        """The stride of unit ``index``'s map (pyramid networks)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Stem, units ``0 .. max(out_indices)``, then one tensor per
        ``out_indices`` entry, in that order (rescaled by the pyramid where
        there is one)."""
        check_input(x, self.in_channels, self.min_size, type(self).__name__)
        image_size = x.shape[-2:]
        state = self.forward_stem(x)
        wanted = set(self.out_indices)
        feats = {}
        for index in range(max(wanted) + 1):
            state = self.forward_unit(index, state)
            if index in wanted:
                feats[index] = self.format_output(index, state)
        outs = [feats[index] for index in self.out_indices]
        if self.pyramid is not None:
            outs = self.pyramid(
                outs, image_size,
                [self.unit_stride(index) for index in self.out_indices])
        return tuple(outs)

    # ------------------------------------------------------------------
    # Weights
    # ------------------------------------------------------------------
    def init_official_weights(self) -> None:
        """The official initialisation of the network (subclasses)."""

    def init_linears_and_norms(self,
                               norm_types: tuple = (nn.LayerNorm, ),
                               extra: Optional[Callable] = None) -> None:
        """The initialisation the official ViT codes share (timm's
        ``_init_weights``): in one walk over the modules, linear weights
        trunc-normal(0.02) with zero biases, affine ``norm_types`` 1/0, and
        ``extra(module)`` for every other module (network-specific
        parameters, drawn in the same order as the official code)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, norm_types) and m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif extra is not None:
                extra(m)

    def init_weights(self):
        """The official initialisation, then ``init_cfg``.

        ``BaseModule.init_weights`` applies the ``init_cfg`` entries other
        than ``Pretrained`` and logs what happened; a ``Pretrained`` entry
        is run last, by the loading layer's initializer
        :data:`PRETRAINED_INIT` (official files converted, the fit checked
        all or nothing: :mod:`vit_backbones.checkpoint.receive`), so that
        nothing initialises over it. A second call does nothing.
        """
        if self._is_init:
            super().init_weights()  # mmengine warns and returns
            return
        self.init_official_weights()
        cfgs = self.init_cfg if isinstance(self.init_cfg, list) else [
            self.init_cfg
        ] if self.init_cfg else []
        pretrained = [c for c in cfgs if c.get('type') == 'Pretrained']
        original, self.init_cfg = self.init_cfg, [
            c for c in cfgs if c.get('type') != 'Pretrained'
        ] or None
        try:
            super().init_weights()
        finally:
            self.init_cfg = original
        if pretrained:
            from mmengine.model.weight_init import initialize
            initialize(self, [dict(cfg, type=PRETRAINED_INIT)
                              for cfg in pretrained])

    def _load_from_state_dict(self, state_dict, prefix, local_metadata,
                              *args, **kwargs):
        """Rename the layers of an older layout (:attr:`RENAMED_LAYERS`)
        before the state dict loads, as torch versions a module's state dict
        (``BatchNorm``'s ``_version``): every route, ``load_state_dict``
        included, takes an old checkpoint.

        A state dict without version metadata (converted files, a
        prefix-stripped dict) counts as the oldest layout; only keys under
        an old name are touched, so new files load unchanged.
        """
        version = local_metadata.get('version')
        for since, renames in sorted(self.RENAMED_LAYERS.items()):
            if version is not None and version >= since:
                continue
            for old, new in renames.items():
                old_prefix, new_prefix = f'{prefix}{old}.', f'{prefix}{new}.'
                for key in [k for k in state_dict
                            if k.startswith(old_prefix)]:
                    state_dict[new_prefix + key[len(old_prefix):]] = \
                        state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      *args, **kwargs)

    # ------------------------------------------------------------------
    # Training features
    # ------------------------------------------------------------------
    def frozen_parts(self, stage: int) -> list:
        """Modules and parameters frozen with ``stage`` (0 is the stem)."""
        raise NotImplementedError

    def _freeze_stages(self) -> None:
        for stage in range(self.frozen_stages + 1):
            for part in self.frozen_parts(stage):
                if part is None:
                    continue
                if isinstance(part, nn.Parameter):
                    part.requires_grad = False
                    continue
                part.eval()
                for param in part.parameters():
                    param.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self

    def checkpointed(self, block: nn.Module, *args):
        """Call ``block(*args)``, through ``torch.utils.checkpoint`` when
        ``with_cp`` is set, the model trains and gradients are enabled."""
        return checkpoint_block(
            block, *args, enabled=self.with_cp and self.training)
