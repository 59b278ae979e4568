"""Switch ViL's random-shift training off part-way through training."""
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import IterBasedTrainLoop
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class ViLRandomShiftHook(Hook):
    """Turn off the random-shift mode of ViL's Longformer attention after
    ``switch_ratio`` of the training.

    The official ViL-Tiny and ViL-Medium-D RPB models were trained with
    ``MODE=1`` (each Longformer attention attends to its own chunk and one
    random neighbour chunk) and switched every attention to all nine chunks
    at ``VIL_MODE_SWITCH=0.75`` of the epochs. Build the backbone with
    ``random_shift=True`` and add::

        custom_hooks = [dict(type='ViLRandomShiftHook', switch_ratio=0.75)]

    The check runs before every epoch (epoch-based loops, as the official
    code does) or every iteration (iteration-based loops), so a resumed run
    is switched as well.

    Args:
        switch_ratio (float): fraction of ``max_epochs`` (or ``max_iters``)
            after which random shift is off.
    """

    priority = 'NORMAL'

    def __init__(self, switch_ratio: float = 0.75):
        if not 0 <= switch_ratio <= 1:
            raise ValueError(
                f'switch_ratio must be in [0, 1], got {switch_ratio}.')
        self.switch_ratio = switch_ratio
        self._switched = False

    def _switch(self, runner, progress: float, total: float) -> None:
        if self._switched or progress < self.switch_ratio * total:
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        changed = sum(
            m.set_random_shift(False) for m in model.modules()
            if hasattr(m, 'set_random_shift'))
        self._switched = True
        print_log(
            f'ViLRandomShiftHook: random shift off in {changed} attention '
            f'modules at {progress}/{total}.', logger='current')

    def before_train_epoch(self, runner) -> None:
        if not isinstance(runner.train_loop, IterBasedTrainLoop):
            self._switch(runner, runner.epoch, runner.max_epochs)

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if isinstance(runner.train_loop, IterBasedTrainLoop):
            self._switch(runner, runner.iter, runner.max_iters)
