import os
import sys

import pytest
import torch

# Make tests/helpers.py importable from every test module.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# Checkpoints load with the safe unpickler, as in the tools: no test may
# depend on a process-wide weights_only=False.
os.environ.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
os.environ.pop('VIT_BACKBONES_UNSAFE_LOAD', None)

if os.environ.get('PYTEST_XDIST_WORKER'):
    # One thread per xdist worker: `make test` runs one worker per core, and
    # more threads than cores makes small CPU ops many times slower.
    torch.set_num_threads(1)
    os.environ['OMP_NUM_THREADS'] = '1'


# --------------------------------------------------------------------------
# --device: the tests that take the ``device`` fixture (marked ``device``
# here) run there; tools/analysis_tools/gpu_check.py runs them with
# ``-m device --device cuda``. Everything else runs on the CPU.
# --------------------------------------------------------------------------
def pytest_addoption(parser):
    parser.addoption(
        '--device', default='cpu',
        help='device of the tests marked `device` (cpu, cuda, cuda:1)')


def pytest_configure(config):
    name = config.getoption('--device')
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise pytest.UsageError(f'--device {name!r}: {error}') from None
    if device.type not in ('cpu', 'cuda'):
        raise pytest.UsageError(f'--device takes cpu or cuda, not {name!r}')
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise pytest.UsageError(
            f'--device {name!r}, but torch {torch.__version__} sees no CUDA '
            'device')


def pytest_collection_modifyitems(config, items):
    for item in items:
        if 'device' in getattr(item, 'fixturenames', ()):
            item.add_marker(pytest.mark.device)


@pytest.fixture
def device(request):
    """The ``--device`` of the run (``cpu`` unless given)."""
    return torch.device(request.config.getoption('--device'))
