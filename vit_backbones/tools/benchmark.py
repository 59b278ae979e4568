"""Timing, peak-memory and profile measurement for the benchmark tools.

Used by ``tools/analysis_tools/benchmark.py`` (a config's backbone) and by
``tools/analysis_tools/benchmark_official.py``, which compares each network
with its official implementation on the same weights, each side in its own
process. Figures are printed, never asserted.

Peak memory is ``torch.cuda.max_memory_allocated`` on GPU. On CPU it is the
peak resident-set size above the level before the measured call, sampled
every millisecond by a background thread (needs ``psutil``). glibc keeps
freed memory for reuse, which hides what a call needs; a process that
measures memory should be started with :data:`CPU_MEMORY_ENV` in its
environment (large blocks are then mapped per allocation and returned on
free, so the resident size follows the live tensors) and measure one call.
"""
import gc
import statistics
import threading
import time
from contextlib import nullcontext
from typing import Callable, Dict, Iterable, Optional, Tuple

import torch

#: Environment for a process that measures CPU memory: glibc maps every
#: block above 64 KiB on its own and unmaps it on free (a fixed threshold:
#: by default glibc raises it after the first free and keeps later blocks).
CPU_MEMORY_ENV = {
    'MALLOC_MMAP_THRESHOLD_': '65536',
    'MALLOC_TRIM_THRESHOLD_': '65536',
}

AMP_DTYPES = dict(fp16=torch.float16, bf16=torch.bfloat16)


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
            iters: int = 5,
            memory: bool = True) -> Dict[str, float]:
    """Time ``step()`` and measure its peak memory.

    Returns a dict with the median and minimum seconds per call and, with
    ``memory``, the peak memory in MiB (of one extra call after timing,
    :func:`peak_memory`).
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
    result = dict(median_s=statistics.median(times), min_s=min(times))
    if memory:
        result['peak_mib'] = peak_memory(step, device)
    return result


def autocast(inputs: torch.Tensor, amp: Optional[str] = None):
    """``torch.autocast`` to ``amp`` (``'fp16'``/``'bf16'``) on the device
    of ``inputs``, or a no-op context for ``None``."""
    if amp is None:
        return nullcontext()
    if amp not in AMP_DTYPES:
        raise ValueError(f'amp must be one of {sorted(AMP_DTYPES)}, '
                         f'not {amp!r}')
    return torch.autocast(inputs.device.type, dtype=AMP_DTYPES[amp])


def forward_step(module: torch.nn.Module,
                 inputs: torch.Tensor,
                 amp: Optional[str] = None):
    """A no-grad forward, as inference runs it."""

    def step():
        with torch.no_grad(), autocast(inputs, amp):
            module(inputs)

    return step


def forward_backward_step(module: torch.nn.Module,
                          inputs: torch.Tensor,
                          amp: Optional[str] = None):
    """A training forward and backward of the sum of all outputs."""

    def step():
        with autocast(inputs, amp):
            out = module(inputs)
            outs = out if isinstance(out, (tuple, list)) else (out, )
            loss = sum(o.float().sum() for o in outs)
        loss.backward()
        module.zero_grad(set_to_none=True)

    return step


def peak_memory(step: Callable[[], None],
                device: torch.device = torch.device('cpu')) -> float:
    """Peak memory in MiB of one call of ``step()`` above the memory in use
    before it (see the module docstring for what it means on CPU)."""
    if device.type == 'cuda':
        _sync(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        step()
        _sync(device)
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20
    with _RssSampler() as sampler:
        step()
    return sampler.used / 2**20


def matmul_rate(device: torch.device = torch.device('cpu'),
                dtype: torch.dtype = torch.float32,
                size: int = 1024,
                iters: int = 10) -> float:
    """Measured rate of a square matmul in FLOP/s (2 n^3 per product): the
    speed at which this machine runs the layers that dominate a
    transformer, for the physical limit FLOPs / rate."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    result = measure(lambda: torch.mm(a, b), device, warmup=2, iters=iters,
                     memory=False)
    return 2 * size**3 / result['median_s']


#: Kernels whose time is the network's arithmetic: matmuls, convolutions
#: and fused attention, forward and backward. Two implementations of the
#: same network share these; everything else (norms, activations, copies,
#: reshapes, masks, softmax outside fused attention) is where they differ.
ARITHMETIC_KERNELS = (
    'aten::mm', 'aten::addmm', 'aten::bmm', 'aten::baddbmm',
    'aten::mkldnn_convolution', 'aten::convolution_backward',
    'aten::_slow_conv2d_forward', 'aten::_slow_conv2d_backward',
    'aten::_scaled_dot_product_flash_attention_for_cpu',
    'aten::_scaled_dot_product_flash_attention_for_cpu_backward',
    'aten::_scaled_dot_product_efficient_attention',
    'aten::_scaled_dot_product_efficient_attention_backward',
    'aten::_scaled_dot_product_flash_attention',
    'aten::_scaled_dot_product_flash_attention_backward',
    'aten::_scaled_dot_product_cudnn_attention',
    'aten::_scaled_dot_product_cudnn_attention_backward')


def profile_step(step: Callable[[], None],
                 device: torch.device = torch.device('cpu'),
                 top: int = 8) -> dict:
    """Profile one call of ``step()`` with ``torch.profiler``.

    Returns ``dict(arithmetic=share, top=[(op, share), ...])``: the share of
    the self time (CPU, or CUDA kernels on GPU) spent in
    :data:`ARITHMETIC_KERNELS` and the ``top`` other ops by self time.
    """
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU]
    if device.type == 'cuda':
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        step()
        _sync(device)
    attr = ('self_device_time_total'
            if device.type == 'cuda' else 'self_cpu_time_total')
    times = {
        event.key: getattr(event, attr)
        for event in prof.key_averages()
    }
    total = sum(times.values()) or 1.
    arithmetic = sum(times.get(op, 0.) for op in ARITHMETIC_KERNELS)
    others = sorted(((t, op) for op, t in times.items()
                     if op not in ARITHMETIC_KERNELS and t > 0),
                    reverse=True)[:top]
    return dict(
        arithmetic=arithmetic / total,
        top=[(op, t / total) for t, op in others])


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
