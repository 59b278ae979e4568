import os
import sys

# Make tests/helpers.py importable from every test module.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# The tools set this too (see vit_backbones/compat.py).
os.environ.setdefault('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
