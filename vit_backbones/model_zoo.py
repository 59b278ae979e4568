"""Make this package's models known to mmpretrain's ``ModelHub``.

``import vit_backbones`` registers the classification models of
``vit_backbones/.mim/model-index.yml`` (a link to the repository's
``model-index.yml`` in a clone, a copy in a wheel), so that mmpretrain's API works with our names::

    import vit_backbones  # noqa
    from mmpretrain import get_model, inference_model, list_models
    list_models('hat-net*')
    model = get_model('hat-net-tiny_3rdparty_in1k', pretrained='converted.pth')

Each network has two metafiles, as the toolboxes keep theirs:
``configs/<net>/metafile.yml`` holds the classification models, which are
registered through mmpretrain's public ``ModelHub.register_model_index``;
``configs/<net>/metafile_dense.yml`` holds the detection and segmentation
models, which mmpretrain's ``get_model`` cannot build and which are not
registered. ``model-index.yml`` imports both, for mim and the model-zoo
tables.

Weights: the ``*_3rdparty_*`` entries name the official files (``Weights``
is the official URL); ``get_model(name, pretrained=True)`` downloads one
into torch's hub cache and converts it while our backbone loads it
(:mod:`vit_backbones.checkpoint.receive`). The other entries have no
published weights; mmpretrain would warn and hand back a randomly
initialised model for ``pretrained=True``, so their registered ``weights``
point at :data:`UNPUBLISHED`, whose loader raises an error that says what
to use instead (the scheme is one of the changes of
:mod:`vit_backbones.toolbox_changes`). The metafiles keep ``Weights: null``.
"""
import os.path as osp
from typing import Dict, List, Optional

CLASSIFICATION = 'Image Classification'


def find_model_index() -> Optional[str]:
    """Path of ``model-index.yml``, or None when it is not shipped.

    The package's ``.mim/`` holds it, with ``configs/`` and ``tools/``, as
    the OpenMMLab packages ship theirs (mim and mmengine look there): in a
    clone and an editable install ``.mim/`` links to the repository's own
    folders, and a wheel carries copies (``setup.py``). The path returned
    is the real one, so configs are named by their repository path in a
    clone.
    """
    package = osp.dirname(osp.abspath(__file__))
    candidate = osp.join(package, '.mim', 'model-index.yml')
    return osp.realpath(candidate) if osp.isfile(candidate) else None


def _read_yaml(path: str) -> dict:
    import yaml
    loader = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)
    with open(path) as f:
        return yaml.load(f, Loader=loader) or {}


def classification_metafiles(path: str) -> Dict[str, List[str]]:
    """The metafiles of the model index ``path`` that hold classification
    models, with their model names (lower case); a metafile that mixes
    them with other tasks raises."""
    root = osp.dirname(path)
    metafiles = {}
    for name in _read_yaml(path).get('Import') or []:
        metafile = osp.join(root, name)
        models = _read_yaml(metafile).get('Models') or []
        tasks = {
            any(r.get('Task') == CLASSIFICATION
                for r in m.get('Results') or [])
            for m in models
        }
        if tasks == {True}:
            metafiles[metafile] = [m['Name'].lower() for m in models]
        elif len(tasks) > 1:
            raise ValueError(
                f'{metafile} mixes classification models with other tasks; '
                'keep detection and segmentation models in a metafile of '
                'their own (metafile_dense.yml), which is not registered in '
                "mmpretrain's ModelHub.")
    return metafiles


#: The checkpoint "scheme" of registered models without published weights;
#: its loader (:func:`load_from_unpublished`) raises.
UNPUBLISHED = 'vit-backbones-unpublished://'


class NoPublishedWeightsError(FileNotFoundError):
    """``pretrained=True`` for a model zoo entry that has no weights."""


def load_from_unpublished(filename: str, map_location=None):
    """The loader of :data:`UNPUBLISHED`: raise, naming the model and the
    entries of the same config that do have weights."""
    name = filename[len(UNPUBLISHED):]
    models = _registered_models()
    config = models[name].config
    others = sorted(
        other for other, model in models.items()
        if other != name and model.weights
        and not model.weights.startswith(UNPUBLISHED)
        and model.config == config)
    hint = (f' The official weights of this model are {others}: '
            f'get_model({others[0]!r}, pretrained=True).') if others else ''
    raise NoPublishedWeightsError(
        f'{name} has no published weights, so pretrained=True cannot load '
        f'any (the model would be random).{hint} Or pass a checkpoint: '
        'pretrained="path/or/URL" (an official file is converted while it '
        'loads; see configs/<network>/README.md).')


def _registered_models() -> dict:
    """mmpretrain's table of registered model metainfo, by lower-case name
    (read only: :func:`_mark_unpublished` is the one place that writes).

    mmpretrain 1.x (and its onedl fork) keep it in ``ModelHub._models_dict``;
    ``ModelHub.get`` returns a deep copy with the config parsed, one model
    at a time.
    """
    from mmpretrain.apis import ModelHub
    return ModelHub._models_dict


def _mark_unpublished(name: str) -> None:
    """Point the registered weights of ``name`` at :data:`UNPUBLISHED`.

    This is the package's one write into mmpretrain's private table: its
    public ``register_model_index`` takes ``Weights`` from the metafile,
    which says ``null`` for a model without weights (the truth, for mim and
    the tables), and mmpretrain then hands back a random model for
    ``get_model(name, pretrained=True)`` with only a warning. No public call
    changes a registered model's weights. ``tests/test_model_zoo.py`` fails
    loudly when mmpretrain keeps the table elsewhere or ``get_model`` stops
    reading it.
    """
    _registered_models()[name].weights = UNPUBLISHED + name


_registered = False


def register_models(path: Optional[str] = None) -> int:
    """Register our classification models with mmpretrain's ``ModelHub``
    (its public ``register_model_index``, one classification metafile at a
    time, configs relative to the repository or ``.mim`` root).

    Returns how many were registered (0 when no model index is found).
    Registering twice is a no-op. A name that mmpretrain (or another
    package) registered already raises.
    """
    global _registered
    if _registered:
        return 0
    path = path or find_model_index()
    if path is None:
        return 0
    from mmpretrain.apis import ModelHub
    root = osp.dirname(path)
    count = 0
    for metafile, names in classification_metafiles(path).items():
        taken = [name for name in names if ModelHub.has(name)]
        if taken:
            raise ValueError(f'Model names {taken} of {metafile} are already '
                             'registered in mmpretrain.')
        ModelHub.register_model_index(metafile, config_prefix=root)
        for name in names:
            if not _registered_models()[name].weights:
                _mark_unpublished(name)
        count += len(names)
    _registered = True
    return count
