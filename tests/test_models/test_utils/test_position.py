"""Position tables (vit_backbones.models.utils.position)."""
import pytest
import torch

from vit_backbones.models.utils import (resize_pos_embed_1d,
                                        resize_rel_pos_table, square_grid_side)


def test_position_helpers():
    assert square_grid_side(196) == 14
    with pytest.raises(ValueError, match='not a square grid'):
        square_grid_side(97, 'pools.0.pos_embed')
    table = torch.arange(6.).reshape(1, 3, 2)
    assert resize_pos_embed_1d(table, 3) is table
    resized = resize_pos_embed_1d(table, 5)
    assert resized.shape == (1, 5, 2)
    torch.testing.assert_close(resized[0, [0, -1]], table[0, [0, -1]])
    rel = torch.randn(9, 2)
    assert torch.equal(resize_rel_pos_table(rel, (3, 3), (3, 3)), rel)
    assert resize_rel_pos_table(rel, (3, 3), (5, 7)).shape == (35, 2)
