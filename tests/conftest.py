import os
import sys

# Make tests/helpers.py importable from every test module.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# The tools set this too (see vit_backbones/compat.py).
os.environ.setdefault('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')

if os.environ.get('PYTEST_XDIST_WORKER'):
    # One thread per xdist worker: `make test` runs one worker per core, and
    # more threads than cores makes small CPU ops many times slower.
    import torch
    torch.set_num_threads(1)
    os.environ['OMP_NUM_THREADS'] = '1'
