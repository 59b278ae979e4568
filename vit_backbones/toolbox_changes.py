"""Every change ``import vit_backbones`` makes to the OpenMMLab toolboxes,
each with its undo.

Registering modules into the toolboxes' registries (``MODELS``, ``HOOKS``,
``WEIGHT_INITIALIZERS``, mmpretrain's ``ModelHub``) is what they are built
for and is not listed here. These go further:

* :func:`use_safe_loaders`, undone by :func:`restore_mmengine_loaders`:
  mmengine's ``CheckpointLoader`` reads local files and ``http(s)://``
  URLs with ``torch.load``: with torch's ``weights_only=True`` default
  every training checkpoint fails, with ``weights_only=False`` any file
  runs pickled code, and a ``.safetensors`` file loads only where the
  ``safetensors`` package happens to be installed, never from a URL. The
  package's loaders (:mod:`vit_backbones.checkpoint.files`) read with the
  allowlist, read safetensors, download once per machine and check a
  download before caching it. They only read, for every model of the
  process: they convert nothing.
* :func:`receive_in_backbones`, undone by
  :func:`restore_checkpoint_to_model`: mmengine's
  ``_load_checkpoint_to_model`` (behind ``load_checkpoint`` and
  ``Runner.load_checkpoint``: ``load_from``, ``resume``, ``tools/test.py``,
  mmpretrain's ``get_model``) is wrapped, so that a model holding one of
  our backbones gets an official file of its network converted and every
  load checked all or nothing (:func:`vit_backbones.checkpoint.receive.
  load_checkpoint_to_model`). A model that holds none of them is passed
  to mmengine's function untouched. mmengine offers no public hook there
  (``after_load_checkpoint`` is a runner hook that a config must name and
  ``load_checkpoint`` never calls); ``tests/test_toolbox_changes.py``
  fails when the wrapped function's signature changes.
* :func:`add_unpublished_scheme`, undone by
  :func:`remove_unpublished_scheme`: mmengine's ``CheckpointLoader`` gets
  the scheme ``vit-backbones-unpublished://`` of the model zoo entries
  without weights (:mod:`vit_backbones.model_zoo`), whose loader raises
  instead of letting ``get_model(pretrained=True)`` hand back a random
  model.
* :func:`resolve_fork_configs`, undone by :func:`restore_config_packages`:
  the onedl-* forks keep the import names (``mmseg``) but not the
  distribution names (``onedl-mmsegmentation``); mmengine finds a
  ``mmseg::`` config base through the distribution name in
  ``MODULE2PACKAGE`` and fails. Entries whose distribution is missing but
  whose module imports are pointed at the module; on the original stack
  nothing changes.

:func:`apply` makes them all (``import vit_backbones`` calls it);
:func:`undo` reverts them all.
"""
import functools
import importlib.metadata
import importlib.util
from typing import Dict

# MODULE2PACKAGE entries changed by apply(): {module: old distribution}.
_changed_packages: Dict[str, str] = {}
# The modules that hold mmengine's _load_checkpoint_to_model under that name
# (the runner imports it by name) and the function each held before.
_CHECKPOINT_TO_MODEL_HOLDERS = ('mmengine.runner.checkpoint',
                                'mmengine.runner.runner')
_original_checkpoint_to_model: Dict[str, object] = {}


def use_safe_loaders() -> None:
    """Make mmengine's ``CheckpointLoader`` read local files and
    ``http(s)://`` URLs through the safe reader."""
    from mmengine.runner.checkpoint import CheckpointLoader

    from .checkpoint.files import load_from_http, load_from_local
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


def receive_in_backbones() -> None:
    """Wrap mmengine's ``_load_checkpoint_to_model`` with
    :func:`vit_backbones.checkpoint.receive.load_checkpoint_to_model`
    (in every module that holds it). Applying twice wraps once."""
    from .checkpoint.receive import load_checkpoint_to_model
    for name in _CHECKPOINT_TO_MODEL_HOLDERS:
        module = importlib.import_module(name)
        if name in _original_checkpoint_to_model:
            continue
        original = module._load_checkpoint_to_model
        _original_checkpoint_to_model[name] = original
        wrapped = functools.wraps(original)(
            functools.partial(load_checkpoint_to_model, original))
        module._load_checkpoint_to_model = wrapped


def restore_checkpoint_to_model() -> None:
    """Put mmengine's own ``_load_checkpoint_to_model`` back."""
    for name, original in list(_original_checkpoint_to_model.items()):
        importlib.import_module(name)._load_checkpoint_to_model = original
        del _original_checkpoint_to_model[name]


def add_unpublished_scheme() -> None:
    """Give ``CheckpointLoader`` the model zoo's scheme of entries without
    weights (:data:`vit_backbones.model_zoo.UNPUBLISHED`)."""
    from mmengine.runner.checkpoint import CheckpointLoader

    from .model_zoo import UNPUBLISHED, load_from_unpublished
    CheckpointLoader.register_scheme(
        prefixes=UNPUBLISHED, force=True)(load_from_unpublished)


def remove_unpublished_scheme() -> None:
    """Take the model zoo's scheme out of ``CheckpointLoader`` again
    (mmengine has no public way to unregister one; its table is
    ``CheckpointLoader._schemes``)."""
    from mmengine.runner.checkpoint import CheckpointLoader

    from .model_zoo import UNPUBLISHED
    CheckpointLoader._schemes.pop(UNPUBLISHED, None)


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
    receive_in_backbones()
    add_unpublished_scheme()
    for module, old in resolve_fork_configs().items():
        _changed_packages.setdefault(module, old)


def undo() -> None:
    """Revert every change listed in the module docstring."""
    restore_mmengine_loaders()
    restore_checkpoint_to_model()
    remove_unpublished_scheme()
    restore_config_packages()
