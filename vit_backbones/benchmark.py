"""Timing and peak-memory measurement for the benchmark scripts.

Used by ``tools/analysis_tools/benchmark.py`` (a config's backbone) and by the
per-network scripts that compare a backbone with its official implementation
on the same weights, side by side in one process. Figures are printed, never
asserted.

Peak memory is ``torch.cuda.max_memory_allocated`` on GPU. On CPU it is the
peak resident-set size above the level before the measured call, sampled
every millisecond by a background thread (needs ``psutil``); allocator
caching makes it an upper bound of what the call itself needed.
"""
import gc
import statistics
import threading
import time
from typing import Callable, Dict, Iterable, Tuple

import torch


class _RssSampler:

    def __init__(self, interval=1e-3):
        import psutil
        self.process = psutil.Process()
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self):
        gc.collect()
        self.base = self.process.memory_info().rss
        self.peak = self.base
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def used(self):
        return self.peak - self.base


def _sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def measure(step: Callable[[], None],
            device: torch.device = torch.device('cpu'),
            warmup: int = 2,
            iters: int = 5) -> Dict[str, float]:
    """Time ``step()`` and measure its peak memory.

    Returns a dict with the median and minimum seconds per call and the
    peak memory in MiB (of one extra call after timing).
    """
    for _ in range(warmup):
        step()
    _sync(device)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - start)
    if device.type == 'cuda':
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        step()
        _sync(device)
        peak = (torch.cuda.max_memory_allocated(device) - base) / 2**20
    else:
        with _RssSampler() as sampler:
            step()
        peak = sampler.used / 2**20
    return dict(median_s=statistics.median(times), min_s=min(times),
                peak_mib=peak)


def forward_step(module: torch.nn.Module, inputs: torch.Tensor):
    """A no-grad forward, as inference runs it."""

    def step():
        with torch.no_grad():
            module(inputs)

    return step


def forward_backward_step(module: torch.nn.Module, inputs: torch.Tensor):
    """A training forward and backward of the sum of all outputs."""

    def step():
        out = module(inputs)
        outs = out if isinstance(out, (tuple, list)) else (out, )
        sum(o.float().sum() for o in outs).backward()
        module.zero_grad(set_to_none=True)

    return step


def format_row(name: str, batch: int, result: Dict[str, float]) -> str:
    per_s = batch / result['median_s']
    return (f'{name:<38} {result["median_s"] * 1e3:9.1f} ms '
            f'{per_s:9.2f} img/s {result["peak_mib"]:9.1f} MiB')


def time_modules(named_modules: Iterable[Tuple[str, torch.nn.Module]],
                 inputs: torch.Tensor,
                 device: torch.device = torch.device('cpu'),
                 warmup: int = 2,
                 iters: int = 5,
                 prefix: str = '') -> Dict[str, Tuple[dict, dict]]:
    """Time each module on the same input, one after the other.

    Each module is timed in eval mode with :func:`forward_step`, then in
    train mode with :func:`forward_backward_step`. A :func:`format_row` line
    is printed for each measurement, named ``f'{prefix}{name} forward'`` and
    ``f'{prefix}{name} forward+backward'``.

    Returns:
        dict: ``{name: (forward result, forward+backward result)}``, each
        a :func:`measure` dict, for ratios between the modules.
    """
    results = {}
    batch = inputs.shape[0]
    for name, module in named_modules:
        module.eval()
        fwd = measure(forward_step(module, inputs), device, warmup, iters)
        module.train()
        fwd_bwd = measure(
            forward_backward_step(module, inputs), device, warmup, iters)
        results[name] = (fwd, fwd_bwd)
        print(format_row(f'{prefix}{name} forward', batch, fwd))
        print(format_row(f'{prefix}{name} forward+backward', batch, fwd_bwd))
    return results
