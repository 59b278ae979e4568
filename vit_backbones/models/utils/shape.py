"""Input checks and padding shared by the backbones."""
from typing import Tuple

import torch


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
