"""Official ViL checkpoints -> ``vit_backbones.ViL`` (mmpretrain layout).

Two sources are understood:

* classification checkpoints of ``microsoft/vision-longformer``:
  ``{'net': state_dict, 'arch': 'msvit', ...}`` with keys prefixed by
  ``module.`` (DDP);
* detection checkpoints of ``microsoft/VisionLongformerForObjectDetection``
  (detectron2): ``{'model': state_dict}`` whose backbone keys start with
  ``backbone.bottom_up.``; the FPN and the detection heads are dropped.

Key rules (official -> ours), ``s`` = stage id (1-based), ``i`` = block::

    layer{s}.0.proj.*                  stages.{s-1}.patch_embed.projection.*
    layer{s}.0.norm_embed.*            stages.{s-1}.patch_embed.norm.*
    layer{s}.0.cls_token               stages.{s-1}.global_tokens
    layer{s}.0.cls_pos_embed           stages.{s-1}.pos_embed_global
    layer{s}.0.x_pos_embed             stages.{s-1}.pos_embed_row
    layer{s}.0.y_pos_embed             stages.{s-1}.pos_embed_col
    layer{s}.{2i+1}.norm.*             stages.{s-1}.blocks.{i}.norm1.*
    layer{s}.{2i+1}.attn.qkv.*         ...attn.query.* (rows [0, d)) and
                                       ...attn.kv.* (rows [d, 3d))
    layer{s}.{2i+1}.attn.{query,kv,proj}.*       same names
    layer{s}.{2i+1}.attn.{query,kv,proj}_global.*  dropped after checking
                                       they equal the shared projection
    layer{s}.{2i+1}.attn.*relative_position_bias*  same names
    layer{s}.{2i+1}.attn.relative_position_index   dropped (recomputed)
    layer{s}.{2i+2}.norm.*             stages.{s-1}.blocks.{i}.norm2.*
    layer{s}.{2i+2}.mlp.fc1.*          stages.{s-1}.blocks.{i}.ffn.layers.0.0.*
    layer{s}.{2i+2}.mlp.fc2.*          stages.{s-1}.blocks.{i}.ffn.layers.1.*
    norm.*                             norm{last}.*   (the final LayerNorm)
    head.*                             head.fc.*      (classifier only)

Zero-size ``cls_pos_embed`` tensors (stages without global tokens) are
dropped.
"""
import re
from collections import OrderedDict
from functools import partial
from typing import Dict, Tuple, Union

import torch

from .common import (CheckpointMismatchError, check_classifier, key_by_rules,
                     rename_keys, strip_prefix, unwrap_state_dict)

DETECTRON2_PREFIX = 'backbone.bottom_up.'

_EMBED = {
    'cls_token': 'global_tokens',
    'cls_pos_embed': 'pos_embed_global',
    'x_pos_embed': 'pos_embed_row',
    'y_pos_embed': 'pos_embed_col',
}
_ATTN = ('qkv|query|kv|proj|query_global|kv_global|proj_global')
_ATTN_TABLES = ('local_relative_position_bias_table|'
                'g2l_relative_position_bias|g2g_relative_position_bias')


def _stage(match, rest: str) -> str:
    return f'backbone.stages.{int(match.group(1)) - 1}.{rest}'


def _block(match, rest: str, mlp: bool) -> str:
    """``layer{s}.{j}``: odd ``j`` is the attention of block ``(j-1)//2``,
    even ``j`` its MLP."""
    index = int(match.group(2))
    if index == 0 or (index % 2 == 0) != mlp:
        raise CheckpointMismatchError(f'{match.group(0)!r}: no such layer.')
    return _stage(match, f'blocks.{(index - 1) // 2}.{rest}')


def _recomputed(match) -> None:
    """Buffers that ``ViLAttention`` recomputes: dropped."""
    _block(match, '', mlp=False)
    return None


_RULES = [(re.compile(pattern), replacement) for pattern, replacement in (
    (r'layer(\d+)\.0\.proj\.(weight|bias)',
     lambda m: _stage(m, f'patch_embed.projection.{m.group(2)}')),
    (r'layer(\d+)\.0\.norm_embed\.(weight|bias)',
     lambda m: _stage(m, f'patch_embed.norm.{m.group(2)}')),
    (r'layer(\d+)\.0\.(' + '|'.join(_EMBED) + ')',
     lambda m: _stage(m, _EMBED[m.group(2)])),
    (r'layer(\d+)\.(\d+)\.norm\.(weight|bias)',
     lambda m: _block(m, f'norm{2 - int(m.group(2)) % 2}.{m.group(3)}',
                      mlp=int(m.group(2)) % 2 == 0)),
    (rf'layer(\d+)\.(\d+)\.attn\.({_ATTN})\.(weight|bias)',
     lambda m: _block(m, f'attn.{m.group(3)}.{m.group(4)}', mlp=False)),
    (rf'layer(\d+)\.(\d+)\.attn\.({_ATTN_TABLES})',
     lambda m: _block(m, f'attn.{m.group(3)}', mlp=False)),
    (r'layer(\d+)\.(\d+)\.attn\.relative_position_index', _recomputed),
    (r'layer(\d+)\.(\d+)\.mlp\.fc1\.(weight|bias)',
     lambda m: _block(m, f'ffn.layers.0.0.{m.group(3)}', mlp=True)),
    (r'layer(\d+)\.(\d+)\.mlp\.fc2\.(weight|bias)',
     lambda m: _block(m, f'ffn.layers.1.{m.group(3)}', mlp=True)),
    (r'head\.(weight|bias)', r'head.fc.\1'),
)]


def split_source(checkpoint) -> Tuple[Dict[str, torch.Tensor], bool]:
    """The official tensors without wrappers and prefixes, and whether they
    came from a detectron2 detection checkpoint."""
    state_dict = unwrap_state_dict(checkpoint, wrappers=('net', 'model',
                                                         'state_dict'))
    state_dict = strip_prefix(state_dict, 'module.')
    if any(k.startswith(DETECTRON2_PREFIX) for k in state_dict):
        backbone = OrderedDict(
            (k[len(DETECTRON2_PREFIX):], v) for k, v in state_dict.items()
            if k.startswith(DETECTRON2_PREFIX))
        return backbone, True
    return state_dict, False


def _num_stages(state_dict) -> int:
    stages = {int(m.group(1)) for k in state_dict
              for m in [re.match(r'layer(\d+)\.', k)] if m}
    if not stages or stages != set(range(1, max(stages) + 1)):
        raise CheckpointMismatchError(
            'Not an official ViL (MsViT) checkpoint: expected keys '
            f'"layer1." ... "layerN."; found stages {sorted(stages)}.')
    return max(stages)


def convert_key(key: str, num_stages: int) -> Union[str, None]:
    """The mmpretrain key of an official MsViT key (see the module
    docstring). The fused ``attn.qkv`` and the ``*_global`` projections keep
    their names here; :func:`convert` splits and checks them."""
    if re.fullmatch(r'norm\.(weight|bias)', key):
        return f'backbone.norm{num_stages - 1}.{key[len("norm."):]}'
    return key_by_rules(key, _RULES, 'ViL (MsViT)')


def _split_fused(state_dict: Dict[str, torch.Tensor]) -> 'OrderedDict':
    """Split ``attn.qkv`` into ``query`` and ``kv``, drop the ``*_global``
    projections after checking that they equal the shared ones (the
    released ``SHARE_W=True`` models) and the empty global position tables
    of stages without global tokens."""
    out = OrderedDict()
    shared = {}
    for key, value in state_dict.items():
        m = re.fullmatch(r'(.+\.attn\.)(qkv|query_global|kv_global|'
                         r'proj_global)\.(weight|bias)', key)
        if key.endswith('.pos_embed_global') and value.numel() == 0:
            continue
        if m is None:
            out[key] = value
        elif m.group(2) == 'qkv':
            dim = value.shape[0] // 3
            out[f'{m.group(1)}query.{m.group(3)}'] = value[:dim]
            out[f'{m.group(1)}kv.{m.group(3)}'] = value[dim:]
        else:
            local = f'{m.group(1)}{m.group(2)[:-len("_global")]}.' \
                f'{m.group(3)}'
            shared[local] = (key, value)
    for ours, (key, value) in shared.items():
        local = out.get(ours)
        if local is None or local.shape != value.shape or not torch.equal(
                local, value):
            raise CheckpointMismatchError(
                f'{key} differs from the local projection it should share '
                f'({ours}); ViL implements the released SHARE_W=True models '
                'only.')
    return out


def convert(checkpoint,
            *,
            arch: Union[str, dict, None] = None,
            validate: bool = True,
            img_size: Union[int, Tuple[int, int]] = 224,
            **model_kwargs) -> 'OrderedDict':
    """Convert a loaded official file.

    Args:
        checkpoint (dict): What ``torch.load`` returned: a classification
            (``{'net': ...}``) or a detectron2 (``{'model': ...}``) file.
        arch (str | dict, optional): The ``ViL`` arch (a name, a dict or an
            official arch string). ViL cannot read it from the weights (the
            head counts of APE models are in no tensor), so ``validate``
            needs it. Defaults to None.
        validate (bool): Check every key and shape against ``ViL(arch,
            img_size=img_size, **model_kwargs)`` (and, for classification
            files, that the head is there). Defaults to True.
        img_size (int | tuple): The size the official position tables were
            built for. Defaults to 224.
        **model_kwargs: Further ``ViL`` arguments of the official model
            (``pos_embed``, ``attn_types``, ``num_global_tokens``).

    Returns:
        OrderedDict: an mmpretrain classifier state dict (``backbone.*``
        and ``head.fc.*``) for classification checkpoints; for detectron2
        checkpoints the backbone only (``backbone.*``), ready for
        ``init_cfg=dict(type='Pretrained', prefix='backbone.')``.
    """
    state_dict, is_detection = split_source(checkpoint)
    converted = rename_keys(
        state_dict, partial(convert_key, num_stages=_num_stages(state_dict)),
        'ViL (MsViT)')
    converted = _split_fused(converted)
    if is_detection:
        # The unused 1000-class head of the detection backbone.
        converted = OrderedDict((k, v) for k, v in converted.items()
                                if not k.startswith('head.'))
    if validate:
        if arch is None:
            raise ValueError(
                'ViL cannot read its arch from the weights: pass arch (a '
                'name such as "tiny" or the official arch string) to '
                'validate the conversion, or validate=False.')
        from vit_backbones.models.backbones.vil import ViL
        with torch.device('meta'):
            model = ViL(arch, img_size=img_size, out_indices=-1,
                        **model_kwargs)
        check_classifier(converted, model, 'ViL',
                         require_head=not is_detection)
    return converted
