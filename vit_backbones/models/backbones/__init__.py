"""The backbones of the network table (:data:`vit_backbones.networks.
NETWORKS`): importing each network's module registers its backbone into
mmpretrain's ``MODELS``. A new network is its module plus its entry in the
table; nothing here changes (``docs/adding_a_network.md``)."""
import importlib

from vit_backbones.networks import NETWORKS

__all__ = [entry.backbone for entry in NETWORKS]
for _entry in NETWORKS:
    globals()[_entry.backbone] = getattr(
        importlib.import_module(_entry.backbone_module), _entry.backbone)
del _entry
