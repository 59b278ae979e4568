"""Make this package's models known to mmpretrain's ``ModelHub``.

``import vit_backbones`` registers the classification models of
``model-index.yml`` (repository root, or ``vit_backbones/.mim/`` in a built
wheel), so that mmpretrain's API works with our names::

    import vit_backbones  # noqa
    from mmpretrain import get_model, inference_model, list_models
    list_models('hat-net*')
    model = get_model('hat-net-tiny_3rdparty_in1k', pretrained='converted.pth')

Detection and segmentation entries stay in the model index (for the
model-zoo tables) but are not registered: mmpretrain's ``get_model`` and
``inference_model`` build classifiers.
"""
import os.path as osp
from typing import Optional

CLASSIFICATION = 'Image Classification'


def find_model_index() -> Optional[str]:
    """Path of ``model-index.yml``, or None when it is not shipped."""
    package = osp.dirname(osp.abspath(__file__))
    for candidate in (osp.join(osp.dirname(package), 'model-index.yml'),
                      osp.join(package, '.mim', 'model-index.yml')):
        if osp.isfile(candidate):
            return candidate
    return None


def load_model_index(path: str):
    """The models of a model index, with collections applied."""
    from modelindex.load_model_index import load
    index = load(path)
    index.build_models_with_collections()
    return index.models


def is_classification(model) -> bool:
    results = model.results or []
    return any(r.task == CLASSIFICATION for r in results)


_registered = False


def register_models(path: Optional[str] = None) -> int:
    """Register our classification models with mmpretrain's ``ModelHub``.

    Returns how many were registered (0 when no model index is found).
    Registering twice is a no-op.
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
    for model in load_model_index(path):
        if not is_classification(model):
            continue
        name = model.name.lower()
        if ModelHub.has(name):
            raise ValueError(f'Model name {name!r} of {path} is already '
                             'registered in mmpretrain.')
        model.config = osp.join(root, model.config)
        # ModelHub has no per-model registration API; this is what its
        # register_model_index() does for each model.
        ModelHub._models_dict[name] = model
        count += 1
    _registered = True
    return count
