"""The network table (vit_backbones.networks) is the one place that lists
the networks: every entry has all its parts, and what lists networks
elsewhere (the registries, the model index, the recipes, the tools, the
contract test) agrees with it."""
import importlib
import os.path as osp

import pytest
import yaml
from helpers import REPO_ROOT

from vit_backbones.networks import NETWORKS, network

parametrize_entries = pytest.mark.parametrize(
    'entry', NETWORKS, ids=[entry.module for entry in NETWORKS])


@parametrize_entries
def test_an_entry_has_all_its_parts(entry):
    from mmpretrain.registry import MODELS

    from vit_backbones.models.backbones.base import VitBackbone
    cls = entry.backbone_class()
    assert issubclass(cls, VitBackbone)
    assert MODELS.get(entry.backbone) is cls
    converter = entry.converter()
    assert callable(converter.convert) and callable(converter.convert_key)
    assert osp.isfile(osp.join(REPO_ROOT, entry.cli))
    cli = open(osp.join(REPO_ROOT, entry.cli)).read()
    assert f"run_cli('{entry.module}'" in cli
    folder = osp.join(REPO_ROOT, entry.configs)
    for name in ('README.md', 'metafile.yml', 'metafile_dense.yml'):
        assert osp.isfile(osp.join(folder, name)), name
    assert entry.official_code in open(osp.join(folder, 'README.md')).read()
    assert network(entry.backbone) is network(entry.module) is entry


def test_the_model_index_and_the_recipes_list_the_table():
    with open(osp.join(REPO_ROOT, 'model-index.yml')) as f:
        imports = yaml.safe_load(f)['Import']
    assert sorted(imports) == sorted(
        f'{entry.configs}/{name}' for entry in NETWORKS
        for name in ('metafile.yml', 'metafile_dense.yml'))
    with open(osp.join(REPO_ROOT, 'configs', 'recipes.yml')) as f:
        families = set(yaml.safe_load(f)) - {'_shared'}
    assert families == {entry.recipe_family for entry in NETWORKS}


def test_the_registries_and_tools_read_the_table():
    from vit_backbones.models import backbones
    from vit_backbones.tools.publish import COLLECTIONS
    assert backbones.__all__ == [entry.backbone for entry in NETWORKS]
    assert COLLECTIONS == {entry.backbone: entry.title for entry in NETWORKS}
    spec = importlib.util.spec_from_file_location(
        'benchmark_official',
        osp.join(REPO_ROOT, 'tools/analysis_tools/benchmark_official.py'))
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    assert set(benchmark.PAIRS) == {entry.module for entry in NETWORKS}


def test_an_unknown_name_lists_the_networks():
    with pytest.raises(KeyError, match="No network 'Swin'.*'HATNet'"):
        network('Swin')
