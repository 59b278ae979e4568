"""The argument helpers of the shared base (vit_backbones.models.backbones.
base); what the base gives every network is the contract test's."""
import pytest

from vit_backbones.models.backbones.base import normalize_indices, resolve_arch


def test_resolve_arch_and_indices():
    zoo = {'t': dict(a=1), 'tiny': dict(a=1)}
    assert resolve_arch('Tiny', zoo, ['a'], 'Net') == dict(a=1)
    with pytest.raises(ValueError, match=r"Choose one of \['t', 'tiny'\]"):
        resolve_arch('huge', zoo, ['a'], 'Net')
    with pytest.raises(KeyError, match=r"misses the keys \['b'\]"):
        resolve_arch(dict(a=1), zoo, ['a', 'b'], 'Net')
    assert normalize_indices(-1, 4) == [3]
    assert normalize_indices((0, -2), 4) == [0, 2]
    with pytest.raises(ValueError, match='out of range'):
        normalize_indices(4, 4)
