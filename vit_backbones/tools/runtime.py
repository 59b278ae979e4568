"""Process set-up of the scripts in ``tools/``: workarounds for the mm*
stack (mmengine 0.10.7, mmcv 2.1.0, mmpretrain
1.2.0, mmdet 3.3.0, mmseg 1.2.2) on recent torch, in one place.

Nothing here runs when :mod:`vit_backbones` is imported (what the import
changes is in :mod:`vit_backbones.toolbox_changes`); the tools in
``tools/`` call
:func:`setup_runtime`, :func:`prepare_cfg_for_launcher` and
:func:`close_process_group`.

What and why:

* Checkpoint loading is safe (``weights_only=True`` with an allowlist, see
  :mod:`vit_backbones.checkpoint.files`); :func:`setup_runtime` only passes the
  tools' ``--unsafe-load`` opt-in on to it.
* Distributed training on machines without CUDA (``torchrun`` with the
  ``gloo`` backend): mmengine's ``init_dist`` calls
  ``torch.cuda.set_device`` and ``Runner.wrap_model`` passes
  ``device_ids=[LOCAL_RANK]`` to DDP, both of which fail for CPU modules.
  :func:`prepare_cfg_for_launcher` initialises the ``gloo`` process group
  itself (mmengine then skips ``init_dist``) and sets ``device_ids=None`` in
  ``model_wrapper_cfg``. At the end, :func:`close_process_group` frees the
  group while Python still runs: a gloo group alive at interpreter shutdown
  can abort the process after its work is done.
* On request (``VIT_BACKBONES_MALLOC=keep``), memory that is freed stays
  with the process (:func:`keep_freed_memory`): glibc's default ``malloc``
  returns every block above 128 KiB to the kernel on free, so each large
  temporary of a CPU forward/backward is a fresh ``mmap`` whose pages the
  kernel zeroes on first touch (docs/benchmarks.md); GPU runs do not see it
  (PyTorch's caching allocator).
"""
import ctypes
import ctypes.util
import os
import sys

import torch

# glibc mallopt parameters (malloc.h) and the values set by
# keep_freed_memory: blocks below 1 GiB come from the heap, freed memory is
# kept up to 2 GiB, and the heap grows 1 GiB at a time.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
KEEP_FREED_MEMORY = {
    _M_MMAP_THRESHOLD: 1 << 30,
    _M_TRIM_THRESHOLD: (1 << 31) - 1,
    _M_TOP_PAD: 1 << 30,
}
# The same as environment variables, for a process started by hand.
KEEP_FREED_MEMORY_ENV = {
    'MALLOC_MMAP_THRESHOLD_': str(1 << 30),
    'MALLOC_TRIM_THRESHOLD_': str((1 << 31) - 1),
    'MALLOC_TOP_PAD_': str(1 << 30),
}
# 'keep': the tools make glibc keep freed memory (keep_freed_memory).
ALLOCATOR_ENV = 'VIT_BACKBONES_MALLOC'


def keep_freed_memory() -> str:
    """Make glibc keep freed memory in this process (``mallopt``), as the
    PyTorch CPU tuning guides' jemalloc/tcmalloc would, without a system
    change: opt in with ``VIT_BACKBONES_MALLOC=keep``. ``tools/train.py``,
    ``tools/test.py`` and ``tools/deployment/pytorch2onnx.py`` call it.

    It is not the default: our networks allocate few large temporaries, and
    ``make demo``'s training ran 5 % longer with it, with 98 MiB more peak
    memory (docs/runtime.md). Nothing changes either when the user already
    tuned glibc (any ``MALLOC_*_`` variable), preloads another allocator
    (``LD_PRELOAD``), or off glibc (macOS, Windows, musl).

    Returns:
        str: what was done, for the log: ``'kept'`` or why not.
    """
    if os.environ.get(ALLOCATOR_ENV, '').lower() != 'keep':
        return f'glibc defaults (set {ALLOCATOR_ENV}=keep to keep memory)'
    if any(k.startswith('MALLOC_') and k.endswith('_') for k in os.environ):
        return 'glibc settings from the environment (MALLOC_*_)'
    if os.environ.get('LD_PRELOAD'):
        return f'preloaded allocator ({os.environ["LD_PRELOAD"]})'
    if not sys.platform.startswith('linux'):
        return 'not glibc'
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return 'not glibc'
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    for param, value in KEEP_FREED_MEMORY.items():
        if mallopt(param, value) != 1:
            return f'glibc refused mallopt({param}, {value})'
    return 'kept'


def setup_runtime(unsafe_load: bool = False) -> None:
    """Process-wide settings for the OpenMMLab tools of this repository:
    the safe-load opt-in and, with ``VIT_BACKBONES_MALLOC=keep``, glibc
    keeping freed memory (:func:`keep_freed_memory`).

    Args:
        unsafe_load (bool): the tools' ``--unsafe-load``: unpickle any
            object in the checkpoints this process loads (trusted files
            only). Defaults to False.
    """
    from vit_backbones.checkpoint.files import UNSAFE_ENV
    if unsafe_load:
        os.environ[UNSAFE_ENV] = '1'
    keep_freed_memory()


def close_process_group() -> None:
    """Destroy the default process group of a distributed run, if any.

    Call it after the last reference to the runner is dropped (``del
    runner``). A gloo process group that is still alive when the interpreter
    shuts down can abort the process after its work is done (SIGABRT,
    "terminate called without an active exception"): a gloo worker thread
    frees a finished collective whose tensors need the GIL, which a
    finalizing interpreter no longer hands out. ``destroy_process_group``
    only drops the group from torch's tables; the group itself lives on as
    long as the DDP wrapper holds it, and mmengine's runner holds that in
    reference cycles. So the cycles are collected first: the group is then
    freed here, and its threads are joined while Python still runs.

    Warns when something still holds the group after it was destroyed.
    """
    import gc
    import warnings
    import weakref

    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()):
        return
    gc.collect()
    dist.barrier()
    group = weakref.ref(dist.group.WORLD)
    dist.destroy_process_group()
    if group() is not None:
        warnings.warn(
            'the default process group is still referenced after it was '
            'destroyed (by a DDP-wrapped model that is still alive?); with '
            'the gloo backend the process may abort at exit',
            RuntimeWarning,
            stacklevel=2)


def prepare_cfg_for_launcher(cfg, launcher: str) -> None:
    """Make ``launcher='pytorch'``/``'slurm'`` runs work without CUDA.

    On a machine with CUDA nothing changes. Without CUDA, the process group
    is created here with the ``gloo`` backend from the environment that
    ``torchrun`` sets, and DDP is told not to pin the module to a device.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return
    import torch.distributed as dist
    if launcher == 'slurm':
        _slurm_env_to_torch_env()
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


def _slurm_env_to_torch_env() -> None:
    """Translate the SLURM variables into those ``init_process_group``
    reads (what mmengine's ``_init_dist_slurm`` does, minus the GPU)."""
    import subprocess
    os.environ.setdefault('RANK', os.environ['SLURM_PROCID'])
    os.environ.setdefault('WORLD_SIZE', os.environ['SLURM_NTASKS'])
    os.environ.setdefault('LOCAL_RANK', os.environ.get('SLURM_LOCALID', '0'))
    if 'MASTER_ADDR' not in os.environ:
        node_list = os.environ['SLURM_NODELIST']
        addr = subprocess.getoutput(
            f'scontrol show hostname {node_list} | head -n1')
        os.environ['MASTER_ADDR'] = addr
    os.environ.setdefault('MASTER_PORT', '29500')
