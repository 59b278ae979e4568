import pytest
import torch

from vit_backbones.models.heads import DropoutLinearClsHead


def test_dropout_linear_head():
    head = DropoutLinearClsHead(num_classes=5, in_channels=8, dropout_rate=0.5)
    feats = (torch.ones(4, 8), )
    head.eval()
    expected = head.fc(feats[0])
    torch.testing.assert_close(head(feats), expected)
    torch.testing.assert_close(head.pre_logits(feats), feats[0])
    head.train()
    torch.manual_seed(0)
    dropped = head(feats)
    assert not torch.allclose(dropped, expected)
    assert set(head.state_dict()) == {'fc.weight', 'fc.bias'}
    with pytest.raises(ValueError, match='dropout_rate'):
        DropoutLinearClsHead(num_classes=5, in_channels=8, dropout_rate=1.)
