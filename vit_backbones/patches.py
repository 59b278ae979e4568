"""Every change ``import vit_backbones`` makes to the OpenMMLab toolboxes.

Registering modules into the toolboxes' registries (``MODELS``, ``HOOKS``,
mmpretrain's ``ModelHub``) is what they are built for and is not listed
here. These two go further, and each can be undone:

============================  ==============================================
change                        why
============================  ==============================================
:func:`use_safe_loaders`      mmengine's ``CheckpointLoader`` loads local
                              files and URLs with ``torch.load``; with
                              torch's ``weights_only=True`` default every
                              training checkpoint fails, and with
                              ``weights_only=False`` any file runs pickled
                              code. The package's loaders
                              (:func:`~vit_backbones.safe_load.
                              load_from_local`, ``load_from_http``) load with
                              the allowlist of :mod:`vit_backbones.safe_load`
                              for everything that goes through mmengine:
                              ``load_from``, ``resume``, ``init_cfg=dict(
                              type='Pretrained')``, ``get_model``; they
                              also convert an official file of the four
                              networks while it loads (:mod:`vit_backbones.
                              converters.official`) and check a download
                              before caching it. Undo:
                              :func:`restore_mmengine_loaders`.
:func:`resolve_fork_configs`  The onedl-* forks keep the import names
                              (``mmseg``) but not the distribution names
                              (``onedl-mmsegmentation``); mmengine finds a
                              ``mmseg::`` config base through the
                              distribution name in ``MODULE2PACKAGE`` and
                              fails. Entries whose distribution is missing
                              but whose module imports are pointed at the
                              module; on the original stack nothing changes.
                              Undo: :func:`restore_config_packages`.
============================  ==============================================

:func:`apply` makes both changes (``import vit_backbones`` calls it);
:func:`undo` reverts both.
"""
import importlib.metadata
import importlib.util
from typing import Dict

# MODULE2PACKAGE entries changed by apply(): {module: old distribution}.
_changed_packages: Dict[str, str] = {}


def use_safe_loaders() -> None:
    """Make mmengine's ``CheckpointLoader`` load local files and
    ``http(s)://`` URLs through the safe loader."""
    from mmengine.runner.checkpoint import CheckpointLoader

    from .safe_load import load_from_http, load_from_local
    CheckpointLoader.register_scheme(prefixes='', force=True)(load_from_local)
    CheckpointLoader.register_scheme(
        prefixes=('http://', 'https://'), force=True)(load_from_http)


def restore_mmengine_loaders() -> None:
    """Give local files and URLs back to mmengine's own loaders."""
    from mmengine.runner.checkpoint import (CheckpointLoader, load_from_http,
                                            load_from_local)
    CheckpointLoader.register_scheme(prefixes='', force=True)(load_from_local)
    CheckpointLoader.register_scheme(
        prefixes=('http://', 'https://'), force=True)(load_from_http)


def _distribution_installed(name: str) -> bool:
    try:
        importlib.metadata.distribution(name)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def resolve_fork_configs() -> Dict[str, str]:
    """Let ``pkg::`` config bases resolve on the forks of the OpenMMLab
    packages.

    Returns:
        dict: the entries of mmengine's ``MODULE2PACKAGE`` changed by this
        call, ``{module: old distribution}``.
    """
    from mmengine.config import utils
    changed = {}
    for module, distribution in list(utils.MODULE2PACKAGE.items()):
        if module == distribution or _distribution_installed(distribution):
            continue
        if importlib.util.find_spec(module) is not None:
            utils.MODULE2PACKAGE[module] = module
            changed[module] = distribution
    return changed


def restore_config_packages() -> None:
    """Put back the ``MODULE2PACKAGE`` entries :func:`apply` changed."""
    from mmengine.config import utils
    for module, distribution in _changed_packages.items():
        utils.MODULE2PACKAGE[module] = distribution
    _changed_packages.clear()


def apply() -> None:
    """Make every change listed in the module docstring."""
    use_safe_loaders()
    for module, old in resolve_fork_configs().items():
        _changed_packages.setdefault(module, old)


def undo() -> None:
    """Revert every change listed in the module docstring."""
    restore_mmengine_loaders()
    restore_config_packages()
