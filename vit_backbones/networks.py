"""The table of the package's networks: one entry per network.

A network is its modules (``models/backbones/<module>.py``,
``converters/<module>.py``, ``configs/<module>/``,
``tools/model_converters/<module>_to_mmpretrain.py``) plus one
:class:`Network` entry in :data:`NETWORKS`. The registries, the loading
layer, the tools, the model zoo and the tests read this table instead of
naming the networks themselves (``docs/adding_a_network.md``).

The table is plain data and imports nothing of the package, so that every
layer may read it: :meth:`Network.backbone_class` and
:meth:`Network.converter` import the modules it names when asked.

Example:
    >>> from vit_backbones.networks import network
    >>> network('HATNet').cli
    'tools/model_converters/hat_net_to_mmpretrain.py'
"""
import importlib
from dataclasses import dataclass
from typing import Tuple


@dataclass(frozen=True)
class Network:
    """One network of the package.

    Args:
        backbone (str): The backbone class name, as registered in
            mmpretrain's ``MODELS`` (``type='HATNet'``).
        title (str): The network's name as its paper writes it (messages,
            tables, model-zoo collections).
        module (str): The module name shared by the backbone module, the
            converter module, the configs folder, the converter CLI and the
            recipe family of ``configs/recipes.yml``.
        official_code (str): The official repository.
    """
    backbone: str
    title: str
    module: str
    official_code: str

    @property
    def backbone_module(self) -> str:
        return f'vit_backbones.models.backbones.{self.module}'

    @property
    def converter_module(self) -> str:
        return f'vit_backbones.converters.{self.module}'

    @property
    def cli(self) -> str:
        """The command-line converter, relative to the repository root."""
        return f'tools/model_converters/{self.module}_to_mmpretrain.py'

    @property
    def configs(self) -> str:
        """The configs folder, relative to the repository root."""
        return f'configs/{self.module}'

    @property
    def recipe_family(self) -> str:
        """The family of ``configs/recipes.yml``."""
        return self.module

    def backbone_class(self):
        """The backbone class (imports its module)."""
        return getattr(
            importlib.import_module(self.backbone_module), self.backbone)

    def converter(self):
        """The converter module (``convert``, ``convert_key``)."""
        return importlib.import_module(self.converter_module)


#: Every network, in the order of the papers (shared/papers 000-003).
NETWORKS: Tuple[Network, ...] = (
    Network('HVT', 'HVT', 'hvt', 'https://github.com/zhuang-group/HVT'),
    Network('DHVT', 'DHVT', 'dhvt', 'https://github.com/ArieSeirack/DHVT'),
    Network('ViL', 'ViL', 'vil',
            'https://github.com/microsoft/vision-longformer'),
    Network('HATNet', 'HAT-Net', 'hat_net',
            'https://github.com/yun-liu/HAT-Net'),
)


def network(name: str) -> Network:
    """The entry whose backbone class name or module name is ``name``."""
    for entry in NETWORKS:
        if name in (entry.backbone, entry.module):
            return entry
    raise KeyError(f'No network {name!r}; the package has '
                   f'{[entry.backbone for entry in NETWORKS]}.')
