"""Loading checkpoint files without running pickled code.

Every file this package loads goes through :func:`load_checkpoint_file`:
``torch.load(..., weights_only=True)`` with an explicit allowlist of exactly
the Python types the files this package meets hold, found by loading real
files:

* mmengine training checkpoints (``tools/train.py``, ``--resume``,
  ``load_from``): the message hub's ``HistoryBuffer`` objects, the numpy
  arrays, scalars and dtypes inside them, and the buffers' statistics
  methods, pickled as ``getattr(HistoryBuffer, 'mean')``. ``getattr`` is
  allowed for exactly that: public methods of ``HistoryBuffer``.
* official release files of the four networks: ``argparse.Namespace``.

A file that needs anything else is refused with an
:class:`UnsafeCheckpointError` that names the type and says how to load a
file you trust anyway (``--unsafe-load`` in the tools, or
``VIT_BACKBONES_UNSAFE_LOAD=1``). :func:`load_from_local` and
:func:`load_from_http` are the loaders that :mod:`vit_backbones.patches`
puts into mmengine's ``CheckpointLoader`` (``load_checkpoint``,
``init_cfg=dict(type='Pretrained')``, ``Runner.resume``/``load_from``,
mmpretrain's ``get_model``) when :mod:`vit_backbones` is imported; they
also convert an official checkpoint of the four networks while it loads
(:func:`vit_backbones.converters.official.convert_official`), and
:func:`load_from_http` checks a download before it enters the cache.
"""
import argparse
import http.client
import os
import pickle
import re
import tempfile
from typing import List

import numpy as np
import torch

#: Environment variable that allows full unpickling (trusted files only).
UNSAFE_ENV = 'VIT_BACKBONES_UNSAFE_LOAD'


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds a Python object that is not on the allowlist."""


class CheckpointFileError(ValueError):
    """A file is not a readable checkpoint (truncated, not a torch file)."""


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
        'vit_backbones.safe_load')


def unsafe_load_allowed() -> bool:
    """Whether ``VIT_BACKBONES_UNSAFE_LOAD=1`` is set."""
    return os.environ.get(UNSAFE_ENV, '') == '1'


_OFFENDER = re.compile(
    r"GLOBAL ([\w.]+)|got <class '([\w.]+)'>|unrecognized function "
    r'<?([\w. ]+)')


def load_checkpoint_file(path,
                         map_location='cpu',
                         unsafe: bool = False):
    """``torch.load`` a checkpoint with the safe unpickler and the
    allowlist of :func:`safe_globals`.

    Args:
        path (str | file): The file.
        map_location: As for ``torch.load``. Defaults to 'cpu'.
        unsafe (bool): Unpickle anything (``weights_only=False``): for files
            you trust only. ``VIT_BACKBONES_UNSAFE_LOAD=1`` does the same.
            Defaults to False.

    Raises:
        UnsafeCheckpointError: the file holds a type not on the allowlist;
            the message names it.
        CheckpointFileError: the file is truncated or not a checkpoint.
    """
    name = getattr(path, 'name', path)
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
        offender = next((g for g in match.groups() if g), '?') \
            if match else '?'
        raise UnsafeCheckpointError(
            f'Refused to load {name}: it holds {offender!r}, which is not on '
            'the allowlist of vit_backbones.safe_load (loading it could run '
            'code). If you trust the file, load it with --unsafe-load (the '
            f'tools) or {UNSAFE_ENV}=1, or add the type to the allowlist.') \
            from None
    except (EOFError, RuntimeError) as error:
        if isinstance(error, RuntimeError) and not re.search(
                r'zip|archive|central directory|unexpected EOF|corrupt',
                str(error), re.I):
            raise
        raise CheckpointFileError(
            f'{name} is not a complete checkpoint file (truncated, or not '
            f'written by torch.save): {error}') from None


# The loaders of mmengine's CheckpointLoader table. Their names are the ones
# mmengine gives its own: it logs "Loads checkpoint by {name[10:]} backend",
# so they read "local" and "http".
def load_from_local(filename: str, map_location=None):
    """Load a local checkpoint file through :func:`load_checkpoint_file`
    (mmengine's ``load_from_local``, made safe); an official file of one of
    the four networks is converted to the mmpretrain layout
    (:func:`vit_backbones.converters.official.convert_official`)."""
    from .converters.official import convert_official
    filename = os.path.expanduser(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return convert_official(load_checkpoint_file(filename, map_location),
                            filename)


#: File names that say nothing of the model (ViL publishes every model as
#: ``.../<run>/model_best.pth``): cached under ``<run>_<name>`` instead.
_GENERIC_NAMES = re.compile(
    r'(model_best|model_final|checkpoint|checkpoint_best|best|last|latest|'
    r'model|weights)\.(pth|pt|bin)')


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
    from .converters.official import CONVERTER_CLI
    clis = ', '.join(sorted(set(CONVERTER_CLI.values())))
    return (f'Download {url} by hand and pass the local file instead (an '
            'official file is converted while it loads), or convert it '
            f'offline with the converter of its network ({clis}).')


def download_checkpoint(url: str, cached: str, progress: bool) -> None:
    """Download ``url`` to ``cached``, never leaving a partial file there.

    The file is written under a temporary name in the cache folder, read
    back with :func:`load_checkpoint_file` (a truncated zip or pickle does
    not load) and only then moved into place.
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
            _check_complete(tmp)
        except CheckpointFileError as error:
            raise CheckpointDownloadError(
                f'The download of {url} is incomplete or not a checkpoint '
                f'({error}); nothing was cached. {_manual_route(url)}') \
                from None
        os.replace(tmp, cached)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _check_complete(path: str) -> None:
    """Raise :class:`CheckpointFileError` unless ``path`` is a complete
    torch file: a zip archive must list every member and pass its CRCs; a
    legacy (pickle) file must unpickle to the end."""
    import zipfile
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
    like :func:`load_from_local` (mmengine's ``load_from_http``, made safe,
    with official files converted).

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
    from .converters.official import convert_official
    return convert_official(load_checkpoint_file(cached, map_location),
                            filename)
