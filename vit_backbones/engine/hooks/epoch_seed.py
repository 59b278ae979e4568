"""Reseed the random number generators at the start of every epoch, so that
a run resumed at an epoch boundary continues exactly as it would have."""
import random

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

# A large odd number that spreads the epochs' seeds apart.
_EPOCH_STRIDE = 1_000_003


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Seed python's ``random``, numpy and torch with ``seed + epoch`` (a
    function of the run's seed and the epoch) before every training epoch.

    mmengine restores weights, optimizer, schedulers, the epoch and the
    run's seed on ``--resume``, and its samplers derive their shuffling from
    ``seed + epoch``; the global random generators are not restored. Saving
    their state in the checkpoint is not enough: the uninterrupted run keeps
    using them after the checkpoint is written (the validation loader draws
    its base seed from torch's generator), the resumed run does not. Setting
    them from ``(seed, epoch)`` at the start of each epoch makes drop path,
    dropout, random augmentation and the loader's worker seeds of epoch
    ``e`` the same in both runs. ``tools/train.py`` adds this hook to every
    run (a config can also list it in ``custom_hooks``).

    Iteration-based loops resumed mid-run skip the consumed batches through
    the data pipeline, so their augmentations after a resume come from
    other random draws; they are reseeded too, every ``interval``
    iterations, so drop path and dropout stay reproducible per iteration.

    Args:
        interval (int): For iteration-based loops, reseed every
            ``interval`` iterations. Defaults to 1.
    """
    priority = 'VERY_HIGH'

    def __init__(self, interval: int = 1):
        self.interval = interval

    @staticmethod
    def _seed(runner, step: int) -> None:
        seed = (int(runner.seed) + _EPOCH_STRIDE * (step + 1)) % 2**32
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    def before_train_epoch(self, runner) -> None:
        if runner.train_loop.__class__.__name__ != 'IterBasedTrainLoop':
            self._seed(runner, runner.epoch)

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        if runner.train_loop.__class__.__name__ == 'IterBasedTrainLoop' \
                and runner.iter % self.interval == 0:
            self._seed(runner, runner.iter)
