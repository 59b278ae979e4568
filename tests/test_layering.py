"""The package's imports run downhill: ``tools/`` -> ``vit_backbones.tools``
-> the loading layer -> the converters -> the models -> the shared layers,
and no module imports itself back through others (no circle).

The imports are read from the source (``ast``), every one of them: at
module level and inside functions, so a function-level import cannot hide
an arrow that runs back up.
"""
import ast
import os.path as osp
from collections import defaultdict

import pytest
from helpers import REPO_ROOT

PACKAGE = 'vit_backbones'
# Lowest first. A module belongs to the last layer whose name is a prefix
# of its own; it may import its own layer and the ones below it.
LAYERS = (
    ('shared', ('vit_backbones.version', 'vit_backbones.networks',
                'vit_backbones.models.utils')),
    ('models', ('vit_backbones.models', 'vit_backbones.engine')),
    ('converters', ('vit_backbones.converters', )),
    ('loading', ('vit_backbones.checkpoint', 'vit_backbones.model_zoo',
                 'vit_backbones.toolbox_changes', 'vit_backbones.deploy')),
    ('tools', ('vit_backbones.tools', )),
    ('package', ('vit_backbones', )),
)


def _layer(module: str) -> int:
    best, length = None, -1
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + '.')) \
                    and len(prefix) > length:
                best, length = rank, len(prefix)
    if best is None:
        raise AssertionError(f'{module} is in no layer of LAYERS')
    return best


def _modules():
    """{module name: path} of every module of the package."""
    import glob
    root = osp.join(REPO_ROOT, PACKAGE)
    modules = {}
    for path in glob.glob(osp.join(root, '**', '*.py'), recursive=True):
        rel = osp.relpath(path, REPO_ROOT)[:-3].replace(osp.sep, '.')
        modules[rel[:-len('.__init__')] if rel.endswith('__init__')
                else rel] = path
    return modules


def _imports(name: str, path: str, modules) -> set:
    """The package modules ``name`` imports (``from a import b`` names
    ``a.b`` where that is a module, else ``a``)."""
    is_package = path.endswith('__init__.py')
    tree = ast.parse(open(path).read(), path)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split('.')
                base = base if is_package else base[:-1]
                base = base[:len(base) - node.level + 1]
                source = '.'.join(base + ([node.module]
                                          if node.module else []))
            else:
                source = node.module
            targets = [f'{source}.{alias.name}'
                       if f'{source}.{alias.name}' in modules else source
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target not in modules and '.' in target:
                target = target.rsplit('.', 1)[0]
            if target in modules and target.startswith(PACKAGE):
                found.add(target)
    found.discard(name)
    return found


@pytest.fixture(scope='module')
def graph():
    modules = _modules()
    return {name: _imports(name, path, modules)
            for name, path in modules.items()}


def test_every_module_is_in_a_layer(graph):
    for module in graph:
        _layer(module)


def test_no_import_runs_up_a_layer(graph):
    upward = sorted(
        f'{module} ({LAYERS[_layer(module)][0]}) imports {target} '
        f'({LAYERS[_layer(target)][0]})'
        for module, targets in graph.items() for target in targets
        if _layer(target) > _layer(module))
    assert not upward, '\n'.join(upward)


def test_models_import_nothing_that_loads_or_converts_them(graph):
    offenders = sorted(
        (module, target) for module, targets in graph.items()
        if module.startswith('vit_backbones.models')
        for target in targets if target.startswith(
            ('vit_backbones.converters', 'vit_backbones.checkpoint')))
    assert not offenders


def test_no_import_circle(graph):
    """No module reaches itself through the imports of others (a package
    importing its own submodules is not a circle: they do not import it
    back)."""
    index, low, stack, on_stack = {}, {}, [], set()
    circles = []
    counter = [0]

    def visit(node):  # Tarjan's strongly connected components
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert not circles, circles


def test_the_check_sees_an_upward_import(tmp_path):
    """The reader resolves relative and function-level imports (else the
    tests above could not fail)."""
    path = tmp_path / 'base.py'
    path.write_text('def f():\n    from ...converters.common import x\n'
                    '    from vit_backbones.checkpoint import receive\n')
    modules = defaultdict(str, {
        'vit_backbones.converters.common': '',
        'vit_backbones.checkpoint': '',
        'vit_backbones.checkpoint.receive': ''
    })
    found = _imports('vit_backbones.models.backbones.base', str(path),
                     modules)
    assert found == {'vit_backbones.converters.common',
                     'vit_backbones.checkpoint.receive'}
    assert _layer('vit_backbones.models.backbones.base') < \
        _layer('vit_backbones.checkpoint.receive')
