"""Input checks and padding shared by the backbones."""
from typing import Tuple

import torch
import torch.nn.functional as F


def check_input(x: torch.Tensor,
                in_channels: int,
                min_size: Tuple[int, int] = (1, 1),
                name: str = 'backbone') -> None:
    """Raise a ``ValueError`` naming the expected shape for bad inputs.

    Args:
        x (Tensor): the input batch.
        in_channels (int): the channel count the backbone was built for.
        min_size (tuple[int, int]): the smallest ``(H, W)`` accepted.
        name (str): the backbone's name, for the message.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x)
        raise ValueError(
            f'{name} expects a 4-D input (B, {in_channels}, H, W), '
            f'got {shape}.')
    if x.shape[1] != in_channels:
        raise ValueError(
            f'{name} expects {in_channels} input channels, i.e. a '
            f'(B, {in_channels}, H, W) input, got {tuple(x.shape)}.')
    h, w = x.shape[-2:]
    if h < min_size[0] or w < min_size[1]:
        raise ValueError(
            f'{name} needs inputs of at least {min_size[0]}x{min_size[1]} '
            f'pixels, got {h}x{w} (input shape {tuple(x.shape)}).')


def pad_amount(size: int, multiple: int) -> int:
    """How much to add to ``size`` to reach a multiple of ``multiple``."""
    return (multiple - size % multiple) % multiple


def pad_to_multiple(x: torch.Tensor, multiple: Tuple[int, int],
                    value: float = 0.) -> Tuple[torch.Tensor, Tuple[int, int]]:
    """Pad the last two dims of ``x`` at the bottom and right.

    Returns the padded tensor and the ``(pad_h, pad_w)`` that were added.
    """
    pad_h = pad_amount(x.shape[-2], multiple[0])
    pad_w = pad_amount(x.shape[-1], multiple[1])
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), value=value)
    return x, (pad_h, pad_w)
