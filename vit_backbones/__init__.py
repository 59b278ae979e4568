"""HVT, DHVT, ViL and HAT-Net backbones for OpenMMLab.

Importing this package registers the backbones into mmpretrain's ``MODELS``
registry (``type='HATNet'`` in mmpretrain configs, ``type='mmpretrain.HATNet'``
in mmdet/mmseg configs with
``custom_imports=dict(imports=['vit_backbones'], allow_failed_imports=False)``),
its optimizer-wrapper constructor and hooks into mmpretrain's registries, and
its classification models into mmpretrain's ``ModelHub`` (``get_model``,
``list_models``, ``inference_model``), and the initializer that loads
our backbones' ``Pretrained`` weights into mmengine's
``WEIGHT_INITIALIZERS``. It also makes the changes to mmengine that
:mod:`vit_backbones.toolbox_changes` lists (safe checkpoint reading,
official files converted where our backbones receive them, the model
zoo's scheme of unpublished weights, config bases on the onedl-* forks);
``vit_backbones.toolbox_changes.undo()`` reverts them.
"""
try:
    import mmengine  # noqa: F401
    import mmpretrain  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the install
    raise ImportError(
        f'vit_backbones needs the OpenMMLab stack ({error.name} is missing): '
        'pip install "vit_backbones[mmlab]" for the original packages or '
        '"vit_backbones[onedl]" for the maintained onedl-* forks, and mmcv '
        'with its ops (tools/install.sh builds it; see the README).') \
        from error

from . import checkpoint, engine, models, toolbox_changes  # noqa: F401,E402
from .model_zoo import register_models  # noqa: E402
from .version import __version__  # noqa: E402

toolbox_changes.apply()
register_models()

__all__ = ['__version__']
