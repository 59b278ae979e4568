"""Input checks and shape helpers (vit_backbones.models.utils.shape)."""
import pytest
import torch

from vit_backbones.models.utils import check_input


def test_check_input():
    check_input(torch.zeros(1, 3, 8, 8), 3, (8, 8))
    with pytest.raises(ValueError, match=r'\(B, 3, H, W\)'):
        check_input(torch.zeros(3, 8, 8), 3)
    with pytest.raises(ValueError, match='expects 3 input channels'):
        check_input(torch.zeros(1, 1, 8, 8), 3)
    with pytest.raises(ValueError, match='at least 16x16'):
        check_input(torch.zeros(1, 3, 8, 20), 3, (16, 16))
