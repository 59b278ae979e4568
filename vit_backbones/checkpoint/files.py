"""Reading and writing checkpoint files without running pickled code.

Every file this package loads goes through :func:`load_checkpoint_file`:

* a ``.safetensors`` file (recognised by its header, whatever its name) is
  read with the ``safetensors`` package: it holds tensors and a string
  header only, so it cannot carry code. What a state dict alone cannot
  hold (the ``meta`` dict: which network, where it was converted from; the
  layout ``version`` of every module, :attr:`torch.nn.Module._version`)
  travels in the header (:func:`save_checkpoint` writes it) and comes back
  as ``{'state_dict': ..., 'meta': ...}``.
* anything else is ``torch.load(..., weights_only=True)`` with an explicit
  allowlist of exactly the Python types the files this package meets hold,
  found by loading real files: mmengine training checkpoints (the message
  hub's ``HistoryBuffer`` objects, the numpy arrays, scalars and dtypes
  inside them, and the buffers' statistics methods, pickled as
  ``getattr(HistoryBuffer, 'mean')``: ``getattr`` is allowed for exactly
  the public methods of ``HistoryBuffer``) and the official release files
  of the four networks (``argparse.Namespace``).

A pickle that needs anything else is refused with an
:class:`UnsafeCheckpointError` that names the type and says how to load a
file you trust anyway (``--unsafe-load`` in the tools, or
``VIT_BACKBONES_UNSAFE_LOAD=1``); a file that is no checkpoint at all
(truncated, random bytes, another format) raises
:class:`CheckpointFileError`.

:func:`load_from_local` and :func:`load_from_http` are the loaders that
:mod:`vit_backbones.toolbox_changes` gives mmengine's ``CheckpointLoader``
(``load_checkpoint``, ``init_cfg=dict(type='Pretrained')``,
``Runner.resume``/``load_from``, mmpretrain's ``get_model``): they read,
and only read, for every model of the process; what a checkpoint *means*
for one of our backbones is :mod:`vit_backbones.checkpoint.receive`'s
business. :func:`load_from_http` downloads once per machine and checks a
download before it enters the cache.
"""
import argparse
import http.client
import json
import os
import pickle
import re
import struct
import tempfile
from collections import OrderedDict
from typing import List, Optional

import numpy as np
import torch

#: Environment variable that allows full unpickling (trusted files only).
UNSAFE_ENV = 'VIT_BACKBONES_UNSAFE_LOAD'
#: The header entries of the safetensors files this package writes.
SAFETENSORS_META = 'vit_backbones.meta'
SAFETENSORS_VERSIONS = 'vit_backbones.versions'


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds a Python object that is not on the allowlist."""


class CheckpointFileError(ValueError):
    """A file is not a readable checkpoint (truncated, not a torch or
    safetensors file)."""


def _numpy_core():
    # numpy 2 pickles name `numpy._core`, numpy 1 `numpy.core`.
    return getattr(np, '_core', None) or np.core


def _history_buffer_getattr(obj, name: str):
    """``getattr`` for unpickling, limited to the public methods of
    mmengine's ``HistoryBuffer`` (its ``statistics_methods``)."""
    from mmengine.logging.history_buffer import HistoryBuffer
    if obj is HistoryBuffer and not name.startswith('_') and callable(
            getattr(HistoryBuffer, name, None)):
        return getattr(obj, name)
    raise UnsafeCheckpointError(
        f'The checkpoint asks for getattr({obj!r}, {name!r}); only public '
        'methods of mmengine HistoryBuffer are allowed.')


def safe_globals() -> List:
    """The allowlist: the globals (and aliases) torch's safe unpickler may
    build besides tensors and plain containers."""
    from mmengine.logging.history_buffer import HistoryBuffer
    core = _numpy_core()
    reconstruct, scalar = core.multiarray._reconstruct, core.multiarray.scalar
    dtypes = {
        type(np.dtype(t))
        for t in ('bool', 'int8', 'int16', 'int32', 'int64', 'uint8',
                  'uint16', 'uint32', 'uint64', 'float16', 'float32',
                  'float64', 'complex64', 'complex128')
    }
    allowed = [argparse.Namespace, HistoryBuffer, np.ndarray, np.dtype,
               reconstruct, scalar, *sorted(dtypes, key=str)]
    for prefix in ('numpy.core', 'numpy._core'):
        allowed += [(reconstruct, f'{prefix}.multiarray._reconstruct'),
                    (scalar, f'{prefix}.multiarray.scalar')]
    allowed += [(_history_buffer_getattr, 'builtins.getattr'),
                (_history_buffer_getattr, '__builtin__.getattr')]
    return allowed


def add_unsafe_load_argument(parser, what: str = 'the checkpoints this '
                             'run loads') -> None:
    """The ``--unsafe-load`` opt-in of the command lines."""
    parser.add_argument(
        '--unsafe-load',
        action='store_true',
        help=f'unpickle any object in {what} (weights_only=False): only for '
        'files you trust; by default they are loaded with the allowlist of '
        'vit_backbones.checkpoint.files')


def unsafe_load_allowed() -> bool:
    """Whether ``VIT_BACKBONES_UNSAFE_LOAD=1`` is set."""
    return os.environ.get(UNSAFE_ENV, '') == '1'


# ---------------------------------------------------------------------------
# safetensors
# ---------------------------------------------------------------------------
def is_safetensors_file(path) -> bool:
    """Whether ``path`` starts like a safetensors file: an 8-byte
    little-endian header length that fits in the file, then a JSON
    object. (A truncated file may still start so; reading it says.)"""
    if not isinstance(path, (str, os.PathLike)) or not os.path.isfile(path):
        return False
    if str(path).endswith('.safetensors'):
        return True
    with open(path, 'rb') as f:
        start = f.read(9)
    if len(start) < 9 or start[8:9] != b'{':
        return False
    (length, ) = struct.unpack('<Q', start[:8])
    return length < os.path.getsize(path)


def _device_of(map_location) -> str:
    # safetensors takes a device; mmengine passes None, 'cpu', a device or a
    # torch.load-style callable (resume), which cannot apply here.
    if isinstance(map_location, (str, torch.device)):
        return str(map_location)
    return 'cpu'


def load_safetensors_file(path, map_location='cpu'):
    """Read a safetensors file.

    Returns:
        ``{'state_dict': ..., 'meta': ...}`` for a file this package wrote
        (the header's meta and module versions restored), else the bare
        state dict.

    Raises:
        CheckpointFileError: the file is truncated or not safetensors.
    """
    from safetensors import SafetensorError, safe_open
    try:
        with safe_open(str(path), framework='pt',
                       device=_device_of(map_location)) as f:
            header = f.metadata() or {}
            state_dict = OrderedDict(
                (key, f.get_tensor(key)) for key in f.keys())
    except (SafetensorError, OSError) as error:
        raise CheckpointFileError(
            f'{path} is not a complete safetensors file (truncated, or not '
            f'written by safetensors): {error}') from None
    versions = header.get(SAFETENSORS_VERSIONS)
    if versions is not None:
        state_dict._metadata = OrderedDict(
            (name, {'version': version})
            for name, version in json.loads(versions).items())
    if SAFETENSORS_META not in header:
        return state_dict
    return dict(state_dict=state_dict,
                meta=json.loads(header[SAFETENSORS_META]))


def save_safetensors_file(state_dict, path, meta: Optional[dict] = None):
    """Write ``state_dict`` (tensors only) to ``path`` as safetensors, with
    ``meta`` (plain JSON data) and the module versions of the state dict's
    ``_metadata`` in the header. Tensors that share memory are written as
    copies; non-contiguous ones contiguous."""
    from safetensors.torch import save_file
    tensors = OrderedDict()
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f'safetensors holds tensors only; {key!r} is a '
                            f'{type(value).__name__}.')
        tensors[key] = value.detach().cpu().contiguous().clone()
    header = {'format': 'pt', SAFETENSORS_META: json.dumps(meta or {})}
    metadata = getattr(state_dict, '_metadata', None)
    if metadata:
        header[SAFETENSORS_VERSIONS] = json.dumps({
            name: entry['version']
            for name, entry in metadata.items() if 'version' in entry
        })
    save_file(tensors, str(path), metadata=header)


# ---------------------------------------------------------------------------
# Reading and writing
# ---------------------------------------------------------------------------
_OFFENDER = re.compile(
    r"GLOBAL ([\w.]+)|got <class '([\w.]+)'>|unrecognized function "
    r'<?([\w. ]+)')


def load_checkpoint_file(path,
                         map_location='cpu',
                         unsafe: bool = False):
    """Load a checkpoint file without running pickled code: a safetensors
    file with the ``safetensors`` package, anything else with torch's safe
    unpickler and the allowlist of :func:`safe_globals`.

    Args:
        path (str | file): The file.
        map_location: As for ``torch.load``. Defaults to 'cpu'.
        unsafe (bool): Unpickle anything (``weights_only=False``): for files
            you trust only. ``VIT_BACKBONES_UNSAFE_LOAD=1`` does the same.
            Defaults to False.

    Raises:
        UnsafeCheckpointError: the pickle holds a type not on the
            allowlist; the message names it.
        CheckpointFileError: the file is truncated or not a checkpoint.
    """
    name = getattr(path, 'name', path)
    if is_safetensors_file(path):
        return load_safetensors_file(path, map_location)
    try:
        if unsafe or unsafe_load_allowed():
            return torch.load(path, map_location=map_location,
                              weights_only=False)
        with torch.serialization.safe_globals(safe_globals()):
            return torch.load(path, map_location=map_location,
                              weights_only=True)
    except UnsafeCheckpointError:
        raise
    except pickle.UnpicklingError as error:
        match = _OFFENDER.search(str(error))
        offender = next((g for g in match.groups() if g), None) \
            if match else None
        if offender is None:
            # No type to name: the bytes are not a pickle torch wrote.
            raise CheckpointFileError(
                f'{name} is not a checkpoint: neither a torch.save file nor '
                f'a safetensors file ({_last_line(error)}).') from None
        raise UnsafeCheckpointError(
            f'Refused to load {name}: it holds {offender!r}, which is not on '
            'the allowlist of vit_backbones.checkpoint.files (loading it '
            'could run code). If you trust the file, load it with '
            f'--unsafe-load (the tools) or {UNSAFE_ENV}=1, or add the type '
            'to the allowlist.') from None
    except (EOFError, RuntimeError) as error:
        if isinstance(error, RuntimeError) and not re.search(
                r'zip|archive|central directory|unexpected EOF|corrupt',
                str(error), re.I):
            raise
        raise CheckpointFileError(
            f'{name} is not a complete checkpoint file (truncated, or not '
            f'written by torch.save): {error}') from None


def _last_line(error) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    # torch's message ends with a documentation link; the cause is above.
    useful = [line for line in lines if 'documentation' not in line]
    return (useful or lines or [''])[-1].strip()


def save_checkpoint(state_dict, dst: str, meta: Optional[dict] = None) -> None:
    """Save ``{'state_dict': ..., 'meta': ...}`` (tensors and plain values
    only, so it loads with ``weights_only=True``), or, where ``dst`` ends
    with ``.safetensors``, a safetensors file with ``meta`` in its header.

    The file is written to a temporary name in the target folder and
    renamed into place, so an interrupted write never leaves a truncated
    file under ``dst``.
    """
    dirname = os.path.dirname(os.path.abspath(dst))
    os.makedirs(dirname, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=dirname, prefix=f'.{os.path.basename(dst)}.', suffix='.tmp')
    os.close(fd)
    try:
        if dst.endswith('.safetensors'):
            save_safetensors_file(state_dict, tmp, meta)
        else:
            torch.save({'state_dict': state_dict, 'meta': dict(meta or {})},
                       tmp)
        os.replace(tmp, dst)
    except BaseException:
        os.unlink(tmp)
        raise


# ---------------------------------------------------------------------------
# mmengine's CheckpointLoader: local files and URLs
# ---------------------------------------------------------------------------
# Their names are the ones mmengine gives its own: it logs "Loads checkpoint
# by {name[10:]} backend", so they read "local" and "http".
def load_from_local(filename: str, map_location=None):
    """Load a local checkpoint file through :func:`load_checkpoint_file`
    (mmengine's ``load_from_local``, made safe, safetensors included)."""
    filename = os.path.expanduser(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return load_checkpoint_file(filename, map_location)


#: File names that say nothing of the model (ViL publishes every model as
#: ``.../<run>/model_best.pth``, the Hugging Face hub as
#: ``.../model.safetensors``): cached under ``<parent>_<name>`` instead.
_GENERIC_NAMES = re.compile(
    r'(model_best|model_final|checkpoint|checkpoint_best|best|last|latest|'
    r'model|weights)\.(pth|pt|bin|safetensors)')


def cache_file_name(url: str) -> str:
    """The name of ``url``'s file in the hub cache: its base name, as torch
    and mmengine cache it, or ``<parent>_<base name>`` where the base name
    is a generic one shared by many models (:data:`_GENERIC_NAMES`)."""
    from urllib.parse import unquote, urlparse
    path = unquote(urlparse(url).path).rstrip('/')
    name = os.path.basename(path)
    parent = os.path.basename(os.path.dirname(path))
    if _GENERIC_NAMES.fullmatch(name) and parent:
        return f'{parent}_{name}'
    return name


class CheckpointDownloadError(OSError):
    """A checkpoint URL cannot be downloaded (HTTP error, unreachable host,
    an incomplete file)."""


def _manual_route(url: str) -> str:
    from vit_backbones.networks import NETWORKS
    clis = ', '.join(sorted(entry.cli for entry in NETWORKS))
    return (f'Download {url} by hand and pass the local file instead (an '
            'official file is converted where one of our backbones loads '
            f'it), or convert it offline with the converter of its network '
            f'({clis}).')


def download_checkpoint(url: str, cached: str, progress: bool) -> None:
    """Download ``url`` to ``cached``, never leaving a partial file there.

    The file is written under a temporary name in the cache folder, checked
    whole (:func:`check_complete`) and only then moved into place.
    """
    from urllib.error import URLError

    from torch.hub import download_url_to_file
    folder = os.path.dirname(cached)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=folder, prefix=f'.{os.path.basename(cached)}.', suffix='.part')
    os.close(fd)
    try:
        try:
            download_url_to_file(url, tmp, progress=progress)
        except (URLError, OSError, http.client.HTTPException) as error:
            raise CheckpointDownloadError(
                f'Could not download {url}: {error}. '
                f'{_manual_route(url)}') from None
        try:
            check_complete(tmp, safetensors=url.endswith('.safetensors'))
        except CheckpointFileError as error:
            raise CheckpointDownloadError(
                f'The download of {url} is incomplete or not a checkpoint '
                f'({error}); nothing was cached. {_manual_route(url)}') \
                from None
        os.replace(tmp, cached)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def check_complete(path: str, safetensors: bool = False) -> None:
    """Raise :class:`CheckpointFileError` unless ``path`` is a complete
    checkpoint file: a safetensors header must cover the whole file; a zip
    archive must list every member and pass its CRCs; a legacy (pickle)
    file must unpickle to the end.

    Args:
        path (str): The file.
        safetensors (bool): Read it as safetensors whatever its start says
            (the URL named a ``.safetensors`` file). Defaults to False.
    """
    import zipfile
    if safetensors or is_safetensors_file(path):
        from safetensors import SafetensorError, safe_open
        try:
            with safe_open(path, framework='pt') as f:
                f.keys()
        except (SafetensorError, OSError) as error:
            raise CheckpointFileError(
                f'{path}: not a complete safetensors file ({error})') \
                from None
        return
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
        except (zipfile.BadZipFile, OSError) as error:
            raise CheckpointFileError(f'{path}: {error}') from None
        if bad is not None:
            raise CheckpointFileError(f'{path}: member {bad} is corrupt')
        return
    try:
        load_checkpoint_file(path, 'cpu')
    except UnsafeCheckpointError:
        pass  # complete, but refused: the load after the download says so


def load_from_http(filename: str, map_location=None, model_dir=None,
                   progress: bool = os.isatty(0)):
    """Download a checkpoint into torch's hub cache once, then load it
    like :func:`load_from_local` (mmengine's ``load_from_http``, made
    safe).

    In a distributed run the first process of each machine (``LOCAL_RANK``
    0, or rank 0 where that is not set) downloads while the others wait at a
    barrier, then they read the cached file: one download for N processes.
    A download is checked before it is moved into the cache
    (:func:`download_checkpoint`), so the cache never holds a partial file;
    an HTTP error, an unreachable host or an incomplete file raise
    :class:`CheckpointDownloadError` naming the URL and the manual route.
    """
    from mmengine.dist import barrier, get_dist_info
    from torch.hub import get_dir
    model_dir = model_dir or os.path.join(get_dir(), 'checkpoints')
    cached = os.path.join(model_dir, cache_file_name(filename))
    rank, world_size = get_dist_info()
    downloads = int(os.environ.get('LOCAL_RANK', rank)) == 0

    if downloads and not os.path.exists(cached):
        download_checkpoint(filename, cached, progress)
    if world_size > 1:
        barrier()
        if not downloads and not os.path.exists(cached):
            # The first process failed (and raised) or caches elsewhere.
            download_checkpoint(filename, cached, progress)
    return load_checkpoint_file(cached, map_location)
