"""A linear classifier head with dropout on its input."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmpretrain.models.heads import LinearClsHead
from mmpretrain.registry import MODELS


@MODELS.register_module()
class DropoutLinearClsHead(LinearClsHead):
    """``LinearClsHead`` with ``Dropout(dropout_rate)`` before ``fc``.

    The classifier of official ImageNet models such as HAT-Net
    (``nn.Sequential(nn.Dropout(0.2), nn.Linear(C, num_classes))``). The
    parameters are those of :class:`LinearClsHead` (``fc.weight``,
    ``fc.bias``), so checkpoints are interchangeable; ``pre_logits`` returns
    the features before the dropout.

    Args:
        num_classes (int): number of categories.
        in_channels (int): channels of the input features.
        dropout_rate (float): dropout probability. Defaults to 0.
        init_cfg (dict, optional): see :class:`LinearClsHead`.
        **kwargs: other arguments of :class:`LinearClsHead` (``loss``,
            ``topk``, ``cal_acc``).
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 dropout_rate: float = 0.,
                 init_cfg: Optional[dict] = dict(
                     type='Normal', layer='Linear', std=0.01),
                 **kwargs):
        super().__init__(num_classes, in_channels, init_cfg=init_cfg, **kwargs)
        if not 0. <= dropout_rate < 1.:
            raise ValueError(
                f'dropout_rate must be in [0, 1), got {dropout_rate}.')
        self.dropout_rate = dropout_rate
        self.dropout = nn.Dropout(dropout_rate)

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        return self.fc(self.dropout(self.pre_logits(feats)))
