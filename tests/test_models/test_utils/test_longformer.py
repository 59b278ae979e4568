"""The Vision Longformer's shared pieces (vit_backbones.models.utils.
longformer); the attention layer and the network are test_vil's."""
import pytest
import torch


@pytest.mark.parametrize('g', [0, 2])
@pytest.mark.parametrize('hw', [(7, 5), (3, 3), (1, 4)])
def test_halo_backward_equals_autograd_of_the_gather(g, hw):
    """The halo gather's own backward (nine shifted adds) gives autograd's
    gradients of the same gather, for the map and the global tokens."""
    from vit_backbones.models.utils.longformer import (
        _gather_full_halo, gather_halo)
    x = torch.randn(2, 3, *hw, 4, dtype=torch.float64, requires_grad=True)
    extra = torch.randn(2, 3, g, 4, dtype=torch.float64,
                        requires_grad=True) if g else None
    inputs = [x] + ([extra] if g else [])
    weight = torch.randn_like(gather_halo(x, 3, None, extra))
    own = torch.autograd.grad(
        (gather_halo(x, 3, None, extra) * weight).sum(), inputs)
    plain = torch.autograd.grad(
        (_gather_full_halo(x, 3, extra) * weight).sum(), inputs)
    assert len(own) == len(plain) == len(inputs)
    for a, b in zip(own, plain):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
