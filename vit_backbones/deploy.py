"""Export the backbones and the models built on them, with dynamic sizes.

Three steps, each usable alone:

* :func:`export_program`: ``torch.export`` with a dynamic input height and
  width over :data:`SIZE_RANGE` (or a range you give);
* :func:`export_onnx`: that program through the dynamo-based ONNX exporter
  into one ``.onnx`` file with dynamic ``height``/``width`` axes, written
  atomically;
* :func:`compare_with_onnxruntime` / :func:`onnxruntime_max_diff`: run the
  file in onnxruntime (CPU) and compare it with the PyTorch model at other
  input sizes.

:class:`TensorModeModel` turns an mmpretrain classifier, an mmdet detector or
an mmseg segmentor into a module of one image tensor that returns its raw
outputs (no data pre-processing, no post-processing such as NMS, which is
left to mmdeploy). ``tools/deployment/pytorch2onnx.py`` runs all of it from a
config.

Why the dynamo-based ONNX exporter: it converts the same ``torch.export``
program that is checked against eager mode, so what holds for one holds for
the other. The TorchScript exporter traces Python integers as constants
(the padding and tile counts of one input size), which gives a graph that is
wrong at other sizes.
"""
import contextlib
import os
import tempfile
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils._pytree import tree_leaves

__all__ = [
    'SIZE_RANGE', 'TensorModeModel', 'IntegerScaleUpsample',
    'ExportableGroupNorm', 'exportable_modules', 'find_backbone',
    'size_range',
    'export_program', 'export_onnx', 'compare_with_onnxruntime',
    'onnxruntime_max_diff'
]

#: The input sizes (height and width, pixels) the exported programs are
#: built for, unless a network needs more (its ``min_size``).
SIZE_RANGE = (64, 2048)


@contextlib.contextmanager
def size_oblivious_export():
    """Trace sizes "size-obliviously" during ``torch.export``.

    By default export specializes a size that equals 1 in a reshape or a
    broadcast (e.g. one row of attention tiles, a single pooled key at a
    small input), so a program exported at a large example input would
    refuse small inputs. ``backed_size_oblivious`` makes such decisions
    hold for every size instead. It is a private switch of
    ``torch.fx.experimental``; on a torch without it this does nothing.
    """
    try:
        from torch.fx.experimental import _config
    except ImportError:  # pragma: no cover - very old torch
        yield
        return
    if not hasattr(_config, 'backed_size_oblivious'):  # pragma: no cover
        yield
        return
    with _config.patch(backed_size_oblivious=True):
        yield


class IntegerScaleUpsample(nn.Module):
    """Up-sampling by an integer factor with the output size computed in
    integers: ``F.interpolate(x, size=(s * h, s * w))``.

    The same output as ``scale_factor=s`` (for integer ``s`` the source
    coordinates are the same), but exportable with dynamic sizes: mmseg's
    ``Upsample`` computes ``int(h * 2.0)`` and ``nn.Upsample`` a float size,
    which ``torch.export`` pins to the example input.
    """

    def __init__(self, scale: int, mode: str, align_corners: Optional[bool]):
        super().__init__()
        self.scale = scale
        self.mode = mode
        self.align_corners = align_corners

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        return F.interpolate(
            x,
            size=(h * self.scale, w * self.scale),
            mode=self.mode,
            align_corners=self.align_corners)


class ExportableGroupNorm(nn.Module):
    """``nn.GroupNorm`` with its statistics reduced one axis at a time.

    onnxruntime (CPU) reduces ``InstanceNormalization`` and ``ReduceMean``
    over all of a group's elements with a plain float32 sum: over a stride-4
    map of an 800x1216 image (HAT-Net's ``GroupNorm(1, C)``, about 3 M
    values) that is off by about 3e-4, where PyTorch is off by 3e-7. The
    mean of the means along width, then height, then channels is the same
    number (equal counts per row), and no sum in it runs over more than one
    axis, so the exported graph stays as accurate as PyTorch.
    """

    def __init__(self, norm: nn.GroupNorm):
        super().__init__()
        self.norm = norm

    def _mean(self, x: torch.Tensor) -> torch.Tensor:
        for dim in range(x.dim() - 1, 1, -1):
            x = x.mean(dim, keepdim=True)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = self.norm
        groups = x.reshape(x.shape[0], norm.num_groups, -1, *x.shape[2:])
        centred = groups - self._mean(groups)
        var = self._mean(centred * centred)
        out = (centred * torch.rsqrt(var + norm.eps)).reshape(x.shape)
        if norm.affine:
            shape = (1, -1) + (1, ) * (x.dim() - 2)
            out = out * norm.weight.reshape(shape) + norm.bias.reshape(shape)
        return out


@contextlib.contextmanager
def _swapped(model: nn.Module, replace):
    """Replace each child ``m`` of ``model`` for which ``replace(m)`` gives
    a module by that module; put the originals back afterwards."""
    swapped = []
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            new = replace(child)
            if new is not None:
                setattr(parent, name, new)
                swapped.append((parent, name, child))
    try:
        yield
    finally:
        for parent, name, child in swapped:
            setattr(parent, name, child)


def _exportable_upsample(module: nn.Module) -> Optional[nn.Module]:
    if type(module).__name__ != 'Upsample' or getattr(module, 'size',
                                                      None) is not None:
        return None
    scale = getattr(module, 'scale_factor', None)
    if isinstance(scale, (tuple, list)) and len(set(scale)) == 1:
        scale = scale[0]
    if not isinstance(scale, (int, float)) or scale != int(scale):
        return None
    return IntegerScaleUpsample(
        int(scale), module.mode, getattr(module, 'align_corners', None))


@contextlib.contextmanager
def exportable_modules(model: nn.Module):
    """Within this context, the modules of ``model`` that do not export
    well are replaced by equivalents that do (put back afterwards): integer
    ``Upsample`` modules (mmseg's or torch's) by
    :class:`IntegerScaleUpsample`, ``nn.GroupNorm`` by
    :class:`ExportableGroupNorm`."""

    def replace(module):
        if isinstance(module, nn.GroupNorm):
            return ExportableGroupNorm(module)
        return _exportable_upsample(module)

    with _swapped(model, replace):
        yield


def find_backbone(model: nn.Module) -> nn.Module:
    """The backbone of an OpenMMLab model (``model.backbone``), or the model
    itself when it is a backbone."""
    if isinstance(model, TensorModeModel):
        model = model.model
    return getattr(model, 'backbone', model)


def size_range(model: nn.Module,
               min_size: Optional[int] = None,
               max_size: Optional[int] = None
               ) -> Tuple[Tuple[int, int], Tuple[int, int]]:
    """``((min_h, min_w), (max_h, max_w))`` for an export of ``model``.

    Defaults to :data:`SIZE_RANGE`, raised to the backbone's ``min_size``
    where the network needs a larger input.
    """
    low = SIZE_RANGE[0] if min_size is None else min_size
    high = SIZE_RANGE[1] if max_size is None else max_size
    net_min = getattr(find_backbone(model), 'min_size', (1, 1))
    lows = (max(low, net_min[0]), max(low, net_min[1]))
    if min_size is not None and lows != (min_size, min_size):
        raise ValueError(f'{type(find_backbone(model)).__name__} needs inputs '
                         f'of at least {net_min[0]}x{net_min[1]}; '
                         f'min_size={min_size} is smaller.')
    if high < max(lows):
        raise ValueError(f'max_size {high} is below the minimum size '
                         f'{max(lows)}.')
    return lows, (high, high)


def export_program(model: nn.Module,
                   example: torch.Tensor,
                   dynamic: bool = True,
                   min_size: Optional[int] = None,
                   max_size: Optional[int] = None
                   ) -> torch.export.ExportedProgram:
    """``torch.export`` of ``model(example)`` in eval mode.

    Args:
        model (nn.Module): a backbone, or a :class:`TensorModeModel`.
        example (Tensor): a ``(B, 3, H, W)`` input; its size must lie in the
            range (pick one that needs padding, e.g. not a multiple of 32,
            so that nothing is specialized to a padding-free size).
        dynamic (bool): dynamic height and width. Defaults to True.
        min_size (int, optional): smallest height/width the program takes.
            Defaults to :data:`SIZE_RANGE` (or the network's minimum).
        max_size (int, optional): largest height/width. Defaults to 2048.

    Returns:
        torch.export.ExportedProgram: ``program.module()(x)`` runs it.
    """
    model.eval()
    if not dynamic:
        with torch.no_grad(), exportable_modules(model):
            return torch.export.export(model, (example, ))
    (min_h, min_w), (max_h, max_w) = size_range(model, min_size, max_size)
    h, w = example.shape[-2:]
    if not (min_h <= h <= max_h and min_w <= w <= max_w):
        raise ValueError(f'The example input is {h}x{w}; it must lie in the '
                         f'exported range {min_h}x{min_w} .. {max_h}x{max_w}.')
    dims = {
        2: torch.export.Dim('height', min=min_h, max=max_h),
        3: torch.export.Dim('width', min=min_w, max=max_w)
    }
    with torch.no_grad(), size_oblivious_export(), \
            exportable_modules(model):
        return torch.export.export(
            model, (example, ), dynamic_shapes=(dims, ))


def export_onnx(model: nn.Module,
                example: torch.Tensor,
                path: str,
                dynamic: bool = True,
                min_size: Optional[int] = None,
                max_size: Optional[int] = None,
                opset_version: int = 18) -> str:
    """Export ``model`` to one ONNX file at ``path``.

    The input is named ``input`` with dynamic axes ``height`` and ``width``
    (with ``dynamic=True``); the outputs are the model's output tensors in
    order, named ``output_0``, ``output_1``, ... The file is written to a
    temporary name and renamed, so a failed export leaves nothing at
    ``path``.

    Returns:
        str: ``path``.
    """
    program = export_program(model, example, dynamic, min_size, max_size)
    num_outputs = len(program.graph_signature.user_outputs)
    onnx_program = torch.onnx.export(
        program, (example, ),
        dynamo=True,
        input_names=['input'],
        output_names=[f'output_{i}' for i in range(num_outputs)],
        opset_version=opset_version,
        external_data=False,
        verbose=False)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix='.onnx.part', dir=folder)
    os.close(fd)
    try:
        onnx_program.save(tmp, external_data=False)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def compare_with_onnxruntime(path: str, model: nn.Module,
                             inputs: Sequence[torch.Tensor]) -> dict:
    """Run the file at ``path`` in onnxruntime (CPU) and ``model`` in
    PyTorch on each of ``inputs``.

    Returns:
        dict: ``max_abs_diff``, the largest absolute difference over all
        outputs of all inputs, and ``max_abs_output``, the largest absolute
        PyTorch output (the scale float32 rounding is relative to).

    Raises:
        RuntimeError: when the file gives another number or shape of
            outputs than the model.
    """
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    name = session.get_inputs()[0].name
    model.eval()
    worst = scale = 0.
    for x in inputs:
        with torch.no_grad():
            expected = tree_leaves(model(x))
        got = session.run(None, {name: x.numpy()})
        if len(got) != len(expected):
            raise RuntimeError(f'{path} gives {len(got)} outputs, the model '
                               f'{len(expected)}.')
        for e, g in zip(expected, got):
            if tuple(e.shape) != tuple(g.shape):
                raise RuntimeError(
                    f'{path} gives an output of shape {tuple(g.shape)} where '
                    f'the model gives {tuple(e.shape)} (input '
                    f'{tuple(x.shape)}).')
            e = e.float()
            worst = max(worst,
                        (e - torch.from_numpy(g).float()).abs().max().item())
            scale = max(scale, e.abs().max().item())
    return dict(max_abs_diff=worst, max_abs_output=scale)


def onnxruntime_max_diff(path: str, model: nn.Module,
                         inputs: Sequence[torch.Tensor]) -> float:
    """Largest absolute difference between onnxruntime (CPU) running the
    file at ``path`` and ``model`` in PyTorch, over all outputs of all
    ``inputs`` (see :func:`compare_with_onnxruntime`)."""
    return compare_with_onnxruntime(path, model, inputs)['max_abs_diff']


class TensorModeModel(nn.Module):
    """The raw outputs of an OpenMMLab model for a batch of images.

    ``forward(inputs)`` takes a pre-processed ``(B, 3, H, W)`` tensor (the
    data pre-processor's normalization and padding are not included) and
    returns a flat tuple of tensors:

    * ``part='backbone'``: the backbone's feature maps;
    * ``part='model'``: the model's ``mode='tensor'`` outputs: classifier
      logits (mmpretrain), the head's per-level scores and box deltas of a
      one-stage detector (mmdet), the decode head's logits of a segmentor
      (mmseg). Of a two-stage detector (Mask R-CNN), the RPN head's raw
      outputs: its RoI heads need proposals, i.e. NMS, which is
      post-processing (mmdeploy's job).

    Args:
        model (nn.Module): a model built from an OpenMMLab config.
        part (str): ``'backbone'`` or ``'model'``. Defaults to 'model'.
    """

    def __init__(self, model: nn.Module, part: str = 'model'):
        super().__init__()
        if part not in ('backbone', 'model'):
            raise ValueError(f"part must be 'backbone' or 'model', got "
                             f'{part!r}.')
        if part == 'backbone' and not hasattr(model, 'backbone'):
            raise ValueError(f'{type(model).__name__} has no backbone.')
        self.model = model
        self.part = part

    def forward(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        model = self.model
        if self.part == 'backbone':
            outs = model.backbone(inputs)
        elif getattr(model, 'with_rpn', False):
            outs = model.rpn_head(model.extract_feat(inputs))
        else:
            outs = model(inputs, mode='tensor')
        return tuple(tree_leaves(outs))
