import os
import sys

# Make tests/helpers.py importable from every test module.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# Checkpoints load with the safe unpickler, as in the tools: no test may
# depend on a process-wide weights_only=False.
os.environ.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
os.environ.pop('VIT_BACKBONES_UNSAFE_LOAD', None)

if os.environ.get('PYTEST_XDIST_WORKER'):
    # One thread per xdist worker: `make test` runs one worker per core, and
    # more threads than cores makes small CPU ops many times slower.
    import torch
    torch.set_num_threads(1)
    os.environ['OMP_NUM_THREADS'] = '1'
