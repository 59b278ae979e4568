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
from typing import Dict, Optional, Tuple

import torch

from .common import (CheckpointMismatchError, check_state_dict,
                     strip_prefix, to_classifier_state_dict,
                     unwrap_state_dict)

DETECTRON2_PREFIX = 'backbone.bottom_up.'

_EMBED_RULES = {
    'proj': 'patch_embed.projection',
    'norm_embed': 'patch_embed.norm',
    'cls_token': 'global_tokens',
    'cls_pos_embed': 'pos_embed_global',
    'x_pos_embed': 'pos_embed_row',
    'y_pos_embed': 'pos_embed_col',
}
_ATTN_KEEP = ('query', 'kv', 'proj', 'local_relative_position_bias_table',
              'g2l_relative_position_bias', 'g2g_relative_position_bias')
_SHARED = {'query_global': 'query', 'kv_global': 'kv',
           'proj_global': 'proj'}


def _split_source(checkpoint) -> Tuple[Dict[str, torch.Tensor], bool]:
    """The official tensors without wrappers and prefixes; whether they
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


def convert_backbone(state_dict: Dict[str, torch.Tensor],
                     num_stages: Optional[int] = None
                     ) -> Tuple['OrderedDict', 'OrderedDict']:
    """Map official MsViT tensors (no ``module.`` prefix) to ours.

    Returns:
        (backbone, head): the ``ViL`` state dict and the classifier head
        (``fc.weight``/``fc.bias``, empty when the source has none).

    Raises:
        CheckpointMismatchError: for a key that no rule knows, or shared
            global/local projections that differ (a ``SHARE_W=False``
            model, which ``ViL`` does not implement).
    """
    if num_stages is None:
        num_stages = _num_stages(state_dict)
    backbone, head, unknown = OrderedDict(), OrderedDict(), []
    shared = {}
    for key, value in state_dict.items():
        m = re.fullmatch(r'layer(\d+)\.(\d+)\.(.+)', key)
        if m is None:
            if key.startswith('norm.'):
                backbone[f'norm{num_stages - 1}.' + key[5:]] = value
            elif key.startswith('head.'):
                head['fc.' + key[5:]] = value
            else:
                unknown.append(key)
            continue
        stage, index, rest = int(m.group(1)) - 1, int(m.group(2)), m.group(3)
        base = f'stages.{stage}.'
        if index == 0:
            name, _, leaf = rest.partition('.')
            if name not in _EMBED_RULES:
                unknown.append(key)
            elif name == 'cls_pos_embed' and value.numel() == 0:
                continue
            elif name in ('proj', 'norm_embed'):
                backbone[base + _EMBED_RULES[name] + '.' + leaf] = value
            else:
                backbone[base + _EMBED_RULES[name]] = value
            continue
        block = base + f'blocks.{(index - 1) // 2}.'
        if index % 2 == 0:  # MLP block
            rest = re.sub(r'^norm\.', 'norm2.', rest)
            rest = re.sub(r'^mlp\.fc1\.', 'ffn.layers.0.0.', rest)
            rest = re.sub(r'^mlp\.fc2\.', 'ffn.layers.1.', rest)
            if not rest.startswith(('norm2.', 'ffn.')):
                unknown.append(key)
                continue
            backbone[block + rest] = value
            continue
        if rest.startswith('norm.'):
            backbone[block + 'norm1.' + rest[5:]] = value
            continue
        name, _, leaf = rest[len('attn.'):].partition('.')
        if not rest.startswith('attn.'):
            unknown.append(key)
        elif name == 'qkv':
            dim = value.shape[0] // 3
            backbone[block + 'attn.query.' + leaf] = value[:dim]
            backbone[block + 'attn.kv.' + leaf] = value[dim:]
        elif name in _SHARED:
            shared[block + f'attn.{_SHARED[name]}.' + leaf] = (key, value)
        elif name == 'relative_position_index':
            continue
        elif name in _ATTN_KEEP:
            backbone[block + rest] = value
        else:
            unknown.append(key)
    if unknown:
        raise CheckpointMismatchError(
            f'Unknown keys for an official ViL checkpoint ({len(unknown)}): '
            f'{unknown[:20]}')
    for ours, (key, value) in shared.items():
        local = backbone.get(ours)
        if local is None or local.shape != value.shape or not torch.equal(
                local, value):
            raise CheckpointMismatchError(
                f'{key} differs from the local projection it should share '
                f'({ours}); ViL implements the released SHARE_W=True models '
                'only.')
    return backbone, head


def convert(checkpoint) -> Tuple['OrderedDict', bool]:
    """Convert a loaded official file.

    Returns:
        (state_dict, is_detection): an mmpretrain classifier state dict
        (``backbone.*`` and ``head.fc.*``) for classification checkpoints;
        for detectron2 checkpoints the backbone only (``backbone.*``; the
        unused 1000-class head of the detection backbone is dropped), ready
        for ``init_cfg=dict(type='Pretrained', prefix='backbone.')``.
    """
    state_dict, is_detection = _split_source(checkpoint)
    backbone, head = convert_backbone(state_dict)
    if is_detection:
        head = OrderedDict()
    return to_classifier_state_dict(backbone, head), is_detection


def check_converted(state_dict: Dict[str, torch.Tensor], vil_kwargs: dict,
                    is_detection: bool = False) -> None:
    """Raise :class:`CheckpointMismatchError` unless the converted
    ``backbone.*`` tensors fit ``ViL(**vil_kwargs)`` exactly (and, for a
    classification checkpoint, a head is present)."""
    from vit_backbones.models.backbones.vil import ViL
    with torch.device('meta'):
        model = ViL(out_indices=-1, out_norms=True, **vil_kwargs)
    backbone = OrderedDict((k[len('backbone.'):], v)
                           for k, v in state_dict.items()
                           if k.startswith('backbone.'))
    check_state_dict(backbone, model, 'converted ViL checkpoint')
    if not is_detection and 'head.fc.weight' not in state_dict:
        raise CheckpointMismatchError(
            'The classification checkpoint has no head.')
