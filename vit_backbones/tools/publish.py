"""Turn a training checkpoint into a model-zoo file.

A training checkpoint written by mmengine holds the optimizer, the
parameter schedulers, the message hub (with mmengine ``HistoryBuffer``
objects that torch's ``weights_only=True`` loader refuses) and, with
``EMAHook``, two copies of the weights. :func:`publish_checkpoint` keeps the
weights (the EMA average by default, as mmengine stores it in
``state_dict``, or the raw weights with ``ema=False``) and plain metadata,
writes ``<name>_<YYYYMMDD>-<sha256[:8]>.pth`` and/or ``.safetensors``
(weights only, a file that cannot carry code) and returns what a metafile
entry needs. The hash is the one of the written file, in the form
``torch.hub`` checks (``check_hash=True``).
"""
import datetime
import hashlib
import os
import os.path as osp
from collections import OrderedDict
from typing import Optional, Sequence

import torch

from vit_backbones.checkpoint.files import (load_checkpoint_file,
                                            save_checkpoint)
from vit_backbones.networks import NETWORKS

_PLAIN = (str, int, float, bool, type(None))


def plain_data(value):
    """``value`` with everything but plain Python data dropped (so the file
    loads with ``weights_only=True``)."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            item = plain_data(item)
            if isinstance(key, _PLAIN) and item is not _DROP:
                out[key] = item
        return out
    if isinstance(value, (list, tuple)):
        items = [plain_data(item) for item in value]
        items = [item for item in items if item is not _DROP]
        return type(value)(items)
    return _DROP


class _Drop:
    pass


_DROP = _Drop()


def select_weights(checkpoint: dict, ema: bool = True) -> 'OrderedDict':
    """The weights to publish from a training checkpoint.

    mmengine's ``EMAHook`` saves the averaged weights in ``state_dict`` and
    the raw ones under ``ema_state_dict['module.<key>']``; ``ema=False``
    takes the raw ones.
    """
    if 'state_dict' not in checkpoint:
        # A bare state dict.
        state_dict = checkpoint
    else:
        state_dict = checkpoint['state_dict']
    metadata = getattr(state_dict, '_metadata', None)
    state_dict = OrderedDict(
        (k, v) for k, v in state_dict.items() if isinstance(v, torch.Tensor))
    if metadata is not None:  # the module versions (layer renames)
        state_dict._metadata = metadata
    if not ema:
        raw = checkpoint.get('ema_state_dict')
        if raw is None:
            raise ValueError('--no-ema asks for the raw weights of an EMA '
                             'run, but the checkpoint has no ema_state_dict.')
        for key in state_dict:
            if 'module.' + key in raw:
                state_dict[key] = raw['module.' + key]
    return state_dict


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


#: The formats :func:`publish_checkpoint` writes, by file ending.
FORMATS = ('pth', 'safetensors')


def publish_checkpoint(src: str,
                       out: str,
                       ema: bool = True,
                       date: Optional[str] = None,
                       unsafe_load: bool = False,
                       formats: Sequence[str] = ('pth', )) -> dict:
    """Write the published file(s) next to ``out``; return their facts.

    Args:
        src: the training checkpoint.
        out: the output path without date and hash, e.g.
            ``work_dirs/hat-net-tiny_8xb128_in1k.pth``.
        ema: publish the EMA weights when the run had ``EMAHook`` (default),
            else the raw weights.
        date: ``YYYYMMDD``; today by default.
        unsafe_load: unpickle any object in ``src`` (trusted files only);
            by default the allowlist of :mod:`vit_backbones.checkpoint.files`.
        formats: ``'pth'`` (a ``torch.save`` file that loads with
            ``weights_only=True``) and/or ``'safetensors'`` (weights only,
            cannot carry code; the metadata in its header). Each is named
            ``<out>_<date>-<its sha256[:8]>.<format>``.

    Returns:
        dict with ``path`` and ``sha256`` (of the first format),
        ``files`` (``path`` and ``sha256`` of each), ``num_params``,
        ``meta`` and ``run``.
    """
    unknown = set(formats) - set(FORMATS)
    if not formats or unknown:
        raise ValueError(f'formats must be some of {FORMATS}, got '
                         f'{tuple(formats)}.')
    checkpoint = load_checkpoint_file(src, unsafe=unsafe_load)
    state_dict = select_weights(checkpoint, ema=ema)
    meta = plain_data(checkpoint.get('meta', {}))
    for key in ('hook_msgs', 'message_hub'):
        meta.pop(key, None)
    try:
        import mmengine
        import mmpretrain
        meta.setdefault('mmengine_version', mmengine.__version__)
        meta.setdefault('mmpretrain_version', mmpretrain.__version__)
    except ImportError:
        pass
    from vit_backbones.version import __version__
    meta['vit_backbones_version'] = __version__
    meta['ema'] = bool(ema and 'ema_state_dict' in checkpoint)
    # The package's .mim/ holds configs/ (links into the checkout in a
    # clone, copies in a wheel).
    root = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), '.mim')
    run = describe_run(meta, root)
    if 'collection' in run:
        meta.setdefault('network', _BACKBONES[run['collection']])

    stem = out.rsplit('.', 1)[0] if out.endswith(
        tuple(f'.{f}' for f in FORMATS)) else out
    date = date or datetime.date.today().strftime('%Y%m%d')
    files = []
    for fmt in formats:
        tmp = f'{stem}.publishing.{fmt}'
        save_checkpoint(state_dict, tmp, meta)
        digest = sha256_of(tmp)
        final = f'{stem}_{date}-{digest[:8]}.{fmt}'
        os.replace(tmp, final)
        files.append(dict(path=final, sha256=digest))
    num_params = sum(v.numel() for k, v in state_dict.items()
                     if not k.endswith(('running_mean', 'running_var',
                                        'num_batches_tracked')))
    return dict(path=files[0]['path'], sha256=files[0]['sha256'],
                files=files, num_params=num_params, meta=meta, run=run)


TASKS = {
    'mmpretrain': 'Image Classification',
    'mmdet': 'Object Detection',
    'mmseg': 'Semantic Segmentation',
}
# Dataset class -> (metafile name, where this package's configs keep it).
DATASETS = {
    'ImageNet': ('ImageNet-1k', 'data/imagenet'),
    'CIFAR100': ('CIFAR-100', 'data/cifar100'),
    'CocoDataset': ('COCO', 'data/coco'),
    'ADE20KDataset': ('ADE20K', 'data/ade'),
}
#: Backbone class -> model-zoo collection, and back (the network table).
COLLECTIONS = {entry.backbone: entry.title for entry in NETWORKS}
_BACKBONES = {title: backbone for backbone, title in COLLECTIONS.items()}


def describe_run(meta: dict, root: Optional[str] = None) -> dict:
    """Task, dataset, collection and config path of the run that wrote a
    checkpoint, read from the config text mmengine stores in ``meta``.
    Unknown facts are left out."""
    facts = {}
    text = meta.get('cfg')
    if text:
        try:
            from mmengine.config import Config
            cfg = Config.fromstring(text, file_format='.py')
        except Exception:  # a config that does not parse alone
            cfg = None
        if cfg is not None:
            scope = cfg.get('default_scope', 'mmpretrain')
            facts['task'] = TASKS.get(scope, scope)
            if scope == 'mmdet' and 'mask_head' in str(
                    cfg.model.get('roi_head', '')):
                facts['task'] = 'Instance Segmentation'
            dataset = cfg.get('train_dataloader', {}).get('dataset', {})
            while dataset.get('dataset') is not None:  # wrappers
                dataset = dataset['dataset']
            kind = dataset.get('type', '')
            root_dir = str(dataset.get('data_root', '')).rstrip('/')
            known = DATASETS.get(kind)
            if known and root_dir.startswith(known[1]):
                facts['dataset'] = known[0]
            elif root_dir:  # other data in a known format: name the folder
                facts['dataset'] = root_dir
            backbone = cfg.model.get('backbone', {}).get('type', '')
            backbone = backbone.split('.')[-1]
            if backbone in COLLECTIONS:
                facts['collection'] = COLLECTIONS[backbone]
    name = meta.get('experiment_name', '')
    if root and name:
        import glob
        config_name = name.rsplit('_', 2)[0]  # drop _<date>_<time>
        found = sorted(
            glob.glob(osp.join(root, 'configs', '**', config_name + '.py'),
                      recursive=True))
        if found:
            facts['config'] = osp.relpath(found[0], root)
    return facts


def metafile_entry(result: dict,
                   name: str,
                   config: Optional[str],
                   weights_url: str,
                   flops: Optional[int] = None) -> str:
    """A ``Models:`` entry of a metafile.yml for the published file.

    What the checkpoint tells (``result['run']``: task, dataset, collection,
    config) is filled in; what it cannot tell is left as ``<...>`` to edit.
    The metrics are not taken from the checkpoint's message hub: a
    checkpoint written at the end of a training epoch holds the metrics of
    an earlier validation, not of its own weights; evaluate the published
    file with ``tools/test.py`` instead."""
    run = result.get('run', {})
    config = config or run.get('config') or f'configs/<net>/{name}.py'
    lines = [
        f'  - Name: {name}',
        '    Metadata:',
        f'      FLOPs: {flops if flops is not None else "<get_flops.py>"}',
        f'      Parameters: {result["num_params"]}',
        f'      Training Data: {run.get("dataset", "<dataset>")}',
        '      Results Source: this package',
        f'    In Collection: {run.get("collection", "<collection>")}',
        '    Results:',
        f'      - Task: {run.get("task", "<task>")}',
        f'        Dataset: {run.get("dataset", "<dataset>")}',
        '        Metrics:',
        '          <metric>: <tools/test.py>',
        f'    Weights: {weights_url.rstrip("/")}/'
        f'{osp.basename(result["path"])}',
        f'    Config: {config}',
    ]
    return '\n'.join(lines)
