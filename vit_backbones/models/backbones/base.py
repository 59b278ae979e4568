"""What the four backbones share: arch lookup, freezing, ``norm_eval`` and
gradient checkpointing (see ``shared/specs/backbone-contract.md``)."""
from typing import Callable, Iterable, List, Sequence, Union

import torch.nn as nn
import torch.utils.checkpoint as cp
from mmengine.utils.dl_utils.parrots_wrapper import _BatchNorm
from mmpretrain.models.backbones.base_backbone import BaseBackbone


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
                       f'{sorted(missing)}; it needs {sorted(essential_keys)}.')
    return dict(arch)


def normalize_indices(indices: Union[int, Sequence[int]], length: int,
                      what: str = 'out_indices') -> List[int]:
    """Turn an int or a sequence (negative values allowed) into a sorted
    list of indices in ``[0, length)``; raise ``ValueError`` otherwise."""
    if isinstance(indices, int):
        indices = [indices]
    result = []
    for index in indices:
        i = index + length if index < 0 else index
        if not 0 <= i < length:
            raise ValueError(f'{what} entry {index} is out of range for '
                             f'{length} entries.')
        result.append(i)
    if len(set(result)) != len(result):
        raise ValueError(f'{what} {tuple(indices)} has duplicates.')
    return sorted(result)


class VitBackbone(BaseBackbone):
    """Base of the four backbones: ``frozen_stages``, ``norm_eval`` and
    ``with_cp`` with the semantics of the backbone contract.

    ``frozen_stages`` follows mmdet's ResNet/Swin: ``-1`` freezes nothing,
    ``0`` the stem, ``i`` the stem and the first ``i`` stages with their
    output norms. Subclasses say what a stage is by implementing
    :meth:`frozen_parts`.

    Args:
        num_stages (int): the largest valid ``frozen_stages``.
        frozen_stages (int): see above. Defaults to -1.
        norm_eval (bool): keep BatchNorm layers in eval mode while training
            (only BN has running statistics). Defaults to False.
        with_cp (bool): gradient checkpointing per block
            (``use_reentrant=False``), for memory. Defaults to False.
    """

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

    def checkpointed(self, fn: Callable, *args):
        """Call ``fn(*args)``, through ``torch.utils.checkpoint`` when
        ``with_cp`` is set and gradients flow."""
        if self.with_cp and self.training and any(
                getattr(a, 'requires_grad', False) for a in args):
            return cp.checkpoint(fn, *args, use_reentrant=False)
        return fn(*args)
