"""The package's hooks (vit_backbones.engine.hooks); PredictionPicturesHook
runs in the demo report tests (tests/test_tools/test_demo_report.py)."""
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop

from vit_backbones.engine.hooks import EpochSeedHook, ViLRandomShiftHook
from vit_backbones.models import ViL

TINY = dict(embed_dims=[8, 16, 16, 32], depths=[1, 1, 2, 1],
            num_heads=[2, 2, 2, 4], patch_sizes=[4, 2, 2, 2])


def _draws():
    return (random.random(), float(np.random.rand()), float(torch.rand(1)))


def test_epoch_seed_hook_seeds_from_the_run_seed_and_the_epoch():
    """Epoch e of two runs with one seed draws the same numbers, whatever
    was drawn before; other epochs and other seeds draw others."""
    hook = EpochSeedHook()
    loop = EpochBasedTrainLoop.__new__(EpochBasedTrainLoop)

    def draws(seed, epoch):
        runner = SimpleNamespace(seed=seed, epoch=epoch, train_loop=loop)
        _draws()  # whatever the run drew before
        hook.before_train_epoch(runner)
        return _draws()

    assert draws(0, 3) == draws(0, 3)
    assert draws(0, 3) != draws(0, 4)
    assert draws(0, 3) != draws(1, 3)


def test_epoch_seed_hook_reseeds_iteration_loops_every_interval():
    hook = EpochSeedHook(interval=2)
    loop = IterBasedTrainLoop.__new__(IterBasedTrainLoop)
    runner = SimpleNamespace(seed=0, iter=4, train_loop=loop)
    hook.before_train_iter(runner, 0)
    first = _draws()
    hook.before_train_epoch(runner)  # not an epoch loop: nothing
    hook.before_train_iter(runner, 0)
    assert _draws() == first
    runner.iter = 5  # between two intervals: not reseeded
    hook.before_train_iter(runner, 0)
    assert _draws() != first


def test_random_shift_hook():
    model = ViL(TINY, random_shift=True)
    attn = model.stages[0].blocks[0].attn
    for loop, attr in ((EpochBasedTrainLoop, 'epoch'),
                       (IterBasedTrainLoop, 'iter')):
        model.set_random_shift(True)
        hook = ViLRandomShiftHook(switch_ratio=0.75)
        runner = SimpleNamespace(
            model=model, train_loop=loop.__new__(loop), epoch=0, iter=0,
            max_epochs=8, max_iters=8)
        call = (lambda: hook.before_train_epoch(runner)) if attr == \
            'epoch' else (lambda: hook.before_train_iter(runner, 0))
        setattr(runner, attr, 5)
        call()
        assert attn.random_shift
        setattr(runner, attr, 6)
        call()
        assert not attn.random_shift
    with pytest.raises(ValueError, match='switch_ratio'):
        ViLRandomShiftHook(1.5)
