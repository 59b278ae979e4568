"""The backbone contract (docs/backbone_contract.md), checked on every network.

One test suite, parametrized over the four backbones (HVT in both pooling
modes) with tiny archs and tiny inputs, in the dense layout of their
detection configs (four maps at strides 4/8/16/32) and in the
classification layout. What is specific to one network (parity fixtures,
exact parameter counts, masks and paddings) stays in its own test file.
"""
import math
import re
from dataclasses import dataclass, field
from typing import Callable

import pytest
import torch
import torch.nn as nn
from helpers import check_norm_state, randomize
from mmengine.runner import save_checkpoint
from mmengine.utils.dl_utils.parrots_wrapper import _BatchNorm

from vit_backbones.deploy import (export_onnx, export_program,
                                  onnxruntime_max_diff)
from vit_backbones.models.backbones import DHVT, HVT, HATNet, ViL
from vit_backbones.networks import NETWORKS as TABLE


@dataclass
class Network:
    """How to build one network for the contract tests."""
    cls: type
    arch: dict
    dense: dict  # the dense layout: four maps at strides 4/8/16/32
    channels: tuple  # channels of the four dense maps
    out_norm_cfg: dict  # a per-output norm that fits the outputs
    last_block: Callable  # the module that runs last in the network
    extra: dict = field(default_factory=dict)  # arguments of every build

    def build(self, **kwargs):
        return self.cls(self.arch, **dict(self.extra, **kwargs))

    def build_dense(self, **kwargs):
        return self.build(**dict(self.dense, **kwargs))


HVT_1D = dict(embed_dims=32, num_layers=4, num_heads=2, patch_size=16,
              pool_blocks=(0, 2))
NETWORKS = {
    'hvt-1d': Network(
        HVT, HVT_1D,
        dense=dict(out_type='featmap', out_indices=(0, 1, 2, 3),
                   pyramid_scales=(4, 2, 1, 0.5)),
        channels=(32, 32, 32, 32),
        out_norm_cfg=dict(type='LN', eps=1e-6),
        last_block=lambda m: m.layers[-1],
        extra=dict(drop_path_rate=0., img_size=64)),
    'hvt-2d': Network(
        HVT, dict(HVT_1D, patch_size=8, pool_mode='2d'),
        dense=dict(out_type='featmap', out_indices=(0, 0, 2, 3),
                   pyramid_scales=(2, 1, 1, 1)),
        channels=(32, 32, 32, 32),
        out_norm_cfg=dict(type='LN', eps=1e-6),
        last_block=lambda m: m.layers[-1],
        extra=dict(drop_path_rate=0., img_size=64)),
    'dhvt': Network(
        DHVT, dict(embed_dims=32, num_layers=4, num_heads=2, patch_size=16),
        dense=dict(out_type='featmap', out_indices=(0, 1, 2, 3),
                   pyramid_scales=(4, 2, 1, 0.5)),
        channels=(32, 32, 32, 32),
        out_norm_cfg=dict(type='LN', eps=1e-6),
        last_block=lambda m: m.layers[-1]),
    'vil': Network(
        ViL, dict(embed_dims=[8, 16, 16, 32], depths=[1, 1, 2, 1],
                  num_heads=[2, 2, 2, 4], patch_sizes=[4, 2, 2, 2]),
        dense=dict(out_indices=(0, 1, 2, 3), attn_types='longformer',
                   window_size=3, out_norm_cfg=None),
        channels=(8, 16, 16, 32),
        out_norm_cfg=dict(type='LN', eps=1e-6),
        last_block=lambda m: m.stages[-1].blocks[-1],
        extra=dict(drop_path_rate=0., img_size=64)),
    'hat_net': Network(
        HATNet, dict(embed_dims=[16, 32, 48, 64], depths=[1, 1, 2, 1],
                     head_dim=16, mlp_ratios=[2, 2, 2, 2],
                     kernel_sizes=[3, 3, 3, 3]),
        dense=dict(out_indices=(0, 1, 2, 3), grid_sizes=(8, 8, 8, 1),
                   ds_ratios=(16, 8, 4, 1)),
        channels=(16, 32, 48, 64),
        out_norm_cfg=dict(type='GN', num_groups=1),
        last_block=lambda m: m.stages[-1].blocks[-1]),
}
STRIDES = (4, 8, 16, 32)
# Odd sizes that need padding everywhere (patches, windows, tiles, pools).
ODD_SIZES = [(70, 45), (97, 131)]

parametrize_networks = pytest.mark.parametrize(
    'net', list(NETWORKS.values()), ids=list(NETWORKS))


# --------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------
@parametrize_networks
@pytest.mark.parametrize('size', ODD_SIZES)
def test_dense_outputs_follow_the_stride_rule(net, size, device):
    """Level k at stride s_k has ceil(H/s_k) x ceil(W/s_k) cells and
    out_channels[k] channels, for any input size."""
    model = net.build_dense().eval().to(device)
    assert list(model.out_channels) == list(net.channels)
    assert list(model.num_features) == list(net.channels)
    with torch.no_grad():
        outs = model(torch.rand(2, 3, *size, device=device))
    assert isinstance(outs, tuple) and len(outs) == 4
    for out, stride, channels in zip(outs, STRIDES, net.channels):
        assert out.shape == (2, channels, math.ceil(size[0] / stride),
                             math.ceil(size[1] / stride))
        assert torch.isfinite(out).all()


@parametrize_networks
def test_avg_featmap_is_one_vector_per_output(net):
    dense = dict(net.dense)
    dense.pop('pyramid_scales', None)
    dense['out_indices'] = sorted(set(dense['out_indices']))
    model = net.build(**dict(dense, out_type='avg_featmap')).eval()
    with torch.no_grad():
        outs = model(torch.rand(2, 3, 70, 45))
    assert [tuple(o.shape) for o in outs] == [
        (2, c) for c in model.out_channels]


@parametrize_networks
def test_unknown_out_type(net):
    with pytest.raises(ValueError, match='out_type must be one of'):
        net.build(out_type='cls_tokens')


@parametrize_networks
def test_out_norm_cfg(net):
    """``out_norm_cfg`` adds ``norm{i}`` per output (not where a final norm
    already normalises the last block); ``None`` adds none."""
    indices = sorted(set(net.dense['out_indices']))
    plain = net.build_dense(out_norm_cfg=None)
    assert not any(
        name.startswith('norm') and name[4:].isdigit()
        for name, _ in plain.named_children())
    normed = net.build_dense(out_norm_cfg=net.out_norm_cfg)
    has_final_norm = getattr(normed, 'final_norm', False)
    last = indices[-1]
    for i in indices:
        expected = not (has_final_norm and i == getattr(
            normed, 'num_layers', -1) - 1 and i == last)
        assert hasattr(normed, f'norm{i}') == expected, i
    with torch.no_grad():
        normed.eval()(torch.rand(1, 3, 64, 64))


@parametrize_networks
def test_forward_stops_after_the_last_output(net):
    first = sorted(set(net.dense['out_indices']))[0]
    model = net.build(out_indices=first, out_type='featmap').train()
    called = []
    net.last_block(model).register_forward_hook(
        lambda *args: called.append(True))
    sum(o.sum() for o in model(torch.rand(1, 3, 64, 64))).backward()
    assert not called
    assert all(p.grad is None for p in net.last_block(model).parameters())


def _plain_featmaps(net, **kwargs):
    """The dense layout without a pyramid and output norms: one map per
    unit, as the units compute it."""
    dense = {k: v for k, v in net.dense.items() if k != 'pyramid_scales'}
    dense.update(out_type='featmap', out_norm_cfg=None, **kwargs)
    return net.build(**dense)


@parametrize_networks
def test_outputs_come_in_the_order_of_out_indices(net):
    """One rule for all four: the tuple follows ``out_indices`` as given
    (not sorted); the same units give the same maps in either order."""
    x = torch.rand(1, 3, 70, 45)
    forward = randomize(_plain_featmaps(net, out_indices=(1, 3))).eval()
    backward = _plain_featmaps(net, out_indices=(3, 1)).eval()
    backward.load_state_dict(forward.state_dict())
    assert backward.out_indices == [3, 1]
    assert list(backward.out_channels) == [
        forward.out_channels[1], forward.out_channels[0]]
    with torch.no_grad():
        a, b = forward(x), backward(x)
    torch.testing.assert_close(b[0], a[1])
    torch.testing.assert_close(b[1], a[0])
    with pytest.raises(ValueError, match='duplicates'):
        _plain_featmaps(net, out_indices=(1, 1))


@parametrize_networks
def test_a_forward_hook_on_every_unit_fires(net):
    """Every module ``out_indices`` counts (blocks of HVT/DHVT, stages of
    ViL/HAT-Net) runs as a module, so hooks on it fire (Grad-CAM's
    ``--target-layers backbone.stages.3``); a stage's hook sees the map the
    backbone outputs for that stage."""
    model = randomize(_plain_featmaps(net, out_indices=(0, 1, 2, 3))).eval()
    seen = {}
    for i, unit in enumerate(model.units):
        unit.register_forward_hook(
            lambda m, args, out, i=i: seen.__setitem__(i, out))
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 70, 45))
    assert sorted(seen) == list(range(len(model.units)))
    if model.UNITS == 'stages':
        for i, out in enumerate(outs):
            torch.testing.assert_close(seen[i], out)


@parametrize_networks
def test_num_extra_tokens_counts_the_tokens_before_the_patches(net):
    """What mmpretrain's Grad-CAM drops from a token sequence: the last
    block's sequence holds ``num_extra_tokens`` tokens before the patch
    tokens of the last map (HAT-Net works on maps: 0)."""
    model = net.build(out_type='featmap').eval()
    assert isinstance(model.num_extra_tokens, int)
    seen = []
    last_block = net.last_block(model)
    last_block.register_forward_hook(lambda m, args, out: seen.append(out))
    with torch.no_grad():
        out = model(torch.rand(1, 3, 64, 64))[-1]
    sequence = seen[0]
    if sequence.dim() == 4:
        assert model.num_extra_tokens == 0
        return
    if isinstance(model, HVT) and model.pool_mode == '1d':
        positions = model.pools[-1].resolution  # the pooled sequence
    else:
        positions = out.shape[-2] * out.shape[-1]
    assert sequence.shape[1] - model.num_extra_tokens == positions


@parametrize_networks
def test_frozen_stages_are_frozen_at_construction(net):
    """Before ``train()`` is called: an optimizer or a DDP wrapper built
    right after the constructor sees the frozen parameters as frozen."""
    model = net.build_dense(frozen_stages=1)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen
    model.train()
    assert frozen == {
        n for n, p in model.named_parameters() if not p.requires_grad}


def test_with_cp_reaches_the_stages():
    """Stages run their blocks themselves; the backbone's ``with_cp`` is
    theirs, also when it is set after construction."""
    for name in ('vil', 'hat_net'):
        model = NETWORKS[name].build_dense()
        assert not any(stage.with_cp for stage in model.stages)
        model.with_cp = True
        assert all(stage.with_cp for stage in model.stages)
        assert all(stage.with_cp for stage in
                   NETWORKS[name].build_dense(with_cp=True).stages)


@parametrize_networks
def test_batch_independence_in_eval(net, device):
    """In eval mode a sample's outputs do not depend on the batch."""
    model = randomize(net.build_dense()).eval().to(device)
    x = torch.randn(3, 3, 70, 45, device=device)
    with torch.no_grad():
        batched = model(x)
        single = model(x[1:2])
    for b, s in zip(batched, single):
        torch.testing.assert_close(b[1:2], s, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------
@parametrize_networks
def test_bad_inputs_raise_clear_errors(net):
    model = net.build_dense().eval()
    with pytest.raises(ValueError, match='4-D'):
        model(torch.rand(3, 64, 64))
    with pytest.raises(ValueError, match=r'3 input channels.*\(B, 3, H, W\)'):
        model(torch.rand(1, 1, 64, 64))
    min_h, min_w = model.min_size
    if min_h > 1:
        with pytest.raises(ValueError, match=f'at least {min_h}x{min_w}'):
            model(torch.rand(1, 3, min_h - 1, 64))


@parametrize_networks
def test_bad_arch_raises_clear_errors(net):
    with pytest.raises(ValueError, match='Unknown .* arch'):
        net.cls('no-such-arch')
    partial = dict(net.arch)
    key = sorted(partial)[0]
    partial.pop(key)
    with pytest.raises(KeyError, match=key):
        net.cls(partial)
    with pytest.raises(ValueError, match='out of range'):
        net.build(out_indices=(99, ))
    with pytest.raises(ValueError, match='frozen_stages'):
        net.build(frozen_stages=99)


# --------------------------------------------------------------------------
# Training features
# --------------------------------------------------------------------------
@parametrize_networks
@pytest.mark.parametrize('frozen_stages', [0, 1])
def test_frozen_stages_survive_an_optimizer_step(net, frozen_stages, device):
    """Also with the stem alone frozen (0): the first trainable layer then
    sees an input that needs no gradient (PyTorch's CPU channels-last
    GroupNorm backward crashed on that in HAT-Net)."""
    model = randomize(net.build_dense(frozen_stages=frozen_stages))
    model.train().to(device)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    # The stem (and the first stage) are frozen, the last block is not.
    assert frozen and any(
        p.requires_grad for p in net.last_block(model).parameters())
    for stage in range(frozen_stages + 1):
        for part in model.frozen_parts(stage):
            if isinstance(part, nn.Module):
                assert not any(m.training for m in part.modules()), part
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=0.1)
    sum(o.sum() for o in model(torch.rand(2, 3, 64, 64,
                                          device=device))).backward()
    optimizer.step()
    for name, param in model.named_parameters():
        changed = not torch.equal(param, before[name])
        assert changed != (name in frozen), name


@parametrize_networks
def test_norm_eval(net):
    kwargs = {}
    if net.cls is HATNet:
        kwargs['out_norm_cfg'] = dict(type='BN')
    model = net.build_dense(norm_eval=True, **kwargs).train()
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    # ViL has LayerNorms only, and so has HVT without a x4 pyramid level.
    assert bool(bns) == (net.cls is not ViL and 4 in model.pyramid_scales
                         if isinstance(model, HVT) else net.cls is not ViL)
    assert check_norm_state(bns, False)
    model = net.build_dense(norm_eval=False, **kwargs).train()
    assert check_norm_state(model.modules(), True)


@parametrize_networks
def test_with_cp_gives_the_same_outputs_and_gradients(net, device):
    torch.manual_seed(0)
    ref = randomize(net.build_dense()).to(device)
    ckpt = net.build_dense(with_cp=True).to(device)
    ckpt.load_state_dict(ref.state_dict())
    x = torch.rand(2, 3, 70, 45, device=device)
    results = []
    for model in (ref, ckpt):
        model.train()
        x_ = x.clone().requires_grad_()
        torch.manual_seed(1)
        outs = model(x_)
        sum((o * o).sum() for o in outs).backward()
        buffers = {n: b.clone() for n, b in model.named_buffers()}
        grads = {n: p.grad for n, p in model.named_parameters()
                 if p.grad is not None}
        results.append((outs, x_.grad, grads, buffers))
    for a, b in zip(results[0][0], results[1][0]):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(results[0][1], results[1][1])
    assert results[0][2].keys() == results[1][2].keys()
    for name, grad in results[0][2].items():
        torch.testing.assert_close(grad, results[1][2][name], msg=name,
                                   rtol=1e-4, atol=1e-5)
    # BN statistics are updated once, not again by the recomputation.
    for name, buf in results[0][3].items():
        torch.testing.assert_close(buf, results[1][3][name], msg=name)


@parametrize_networks
def test_every_trainable_parameter_gets_a_gradient(net, device):
    """DDP with find_unused_parameters=False needs every trainable
    parameter in the graph of the dense layout."""
    model = net.build_dense(out_norm_cfg=net.out_norm_cfg).train().to(device)
    x = torch.rand(2, 3, 64, 64, device=device)
    sum(o.sum() for o in model(x)).backward()
    missing = [n for n, p in model.named_parameters()
               if p.requires_grad and p.grad is None]
    assert not missing


@parametrize_networks
def test_get_layer_depth_follows_the_forward_order(net):
    """Depths run from 0 (stem) up along the forward pass; the head (and
    the layers after the blocks that a network puts there: final norm,
    pyramid) get the last depth."""
    model = net.build_dense(out_norm_cfg=net.out_norm_cfg)
    _, num_layers = model.get_layer_depth('head.fc.weight', 'backbone.')
    assert model.get_layer_depth('head.fc.weight',
                                 'backbone.') == (num_layers - 1, num_layers)
    order = []
    names = {m: n for n, m in model.named_modules()}
    for module in model.modules():
        if list(module.parameters(recurse=False)):
            module.register_forward_pre_hook(
                lambda m, *args: order.append(names[m]))
    model(torch.rand(1, 3, 64, 64))
    params = dict(model.named_parameters())
    depths = []
    for name in order:
        prefix = f'{name}.' if name else ''
        for pname in params:
            if pname.startswith(prefix) and '.' not in pname[len(prefix):]:
                depth, total = model.get_layer_depth('backbone.' + pname,
                                                     'backbone.')
                assert total == num_layers and 0 <= depth < num_layers
                if depth < num_layers - 1:
                    depths.append((depth, pname))
    assert depths[0][0] == 0
    assert [d for d, _ in depths] == sorted(d for d, _ in depths), depths


# Relative tolerance of half-precision outputs: max |amp - fp32| over
# max |fp32| per output (measured: fp16 <= 0.003, bf16 <= 0.016).
AMP_TOLERANCE = {torch.float16: 1e-2, torch.bfloat16: 5e-2}


@parametrize_networks
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16],
                         ids=['fp16', 'bf16'])
def test_half_precision_at_sizes_that_need_padding(net, dtype, device):
    """Under torch.autocast, at 70x45 (padded patches, windows, tiles and
    fully masked padding rows), outputs stay close to fp32 and forward and
    backward are finite."""
    model = randomize(net.build_dense()).eval().to(device)
    x = torch.rand(2, 3, 70, 45, device=device)
    with torch.no_grad():
        ref = model(x)
        with torch.autocast(device.type, dtype=dtype):
            outs = model(x)
    for out, expected in zip(outs, ref):
        error = (out.float() - expected).abs().max() / expected.abs().max()
        assert error <= AMP_TOLERANCE[dtype], error
    model.train()
    x.requires_grad_()
    with torch.autocast(device.type, dtype=dtype):
        outs = model(x)
    sum(o.float().sum() for o in outs).backward()
    assert all(torch.isfinite(o).all() for o in outs)
    assert torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters()
               if p.grad is not None)


@parametrize_networks
def test_outputs_on_the_device_equal_the_cpu_outputs(net, device):
    """On ``--device cuda`` (the GPU check): fp32 outputs and gradients
    equal the CPU's, at odd sizes (padding) in the dense layout; TF32 is
    off for the comparison (cuDNN convolutions use it by default)."""
    if device.type == 'cpu':
        pytest.skip('compares --device with the CPU; run with --device cuda')
    cpu = randomize(net.build_dense()).train()
    other = net.build_dense().train().to(device)
    other.load_state_dict(cpu.state_dict())
    x = torch.rand(2, 3, 70, 45)
    results = []
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.\
        allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        for model, inputs in ((cpu, x), (other, x.to(device))):
            outs = model(inputs)
            sum((o * o).sum() for o in outs).backward()
            results.append(([o.detach().cpu() for o in outs], {
                n: p.grad.cpu() for n, p in model.named_parameters()
                if p.grad is not None}))
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.\
            allow_tf32 = tf32
    for a, b in zip(results[0][0], results[1][0]):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)
    assert results[0][1].keys() == results[1][1].keys()
    for name, grad in results[0][1].items():
        torch.testing.assert_close(results[1][1][name], grad, rtol=1e-3,
                                   atol=1e-3, msg=name)


# --------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------
# The example input needs padding at every stride; the checks include the
# smallest size of the range and sizes with other paddings.
EXPORT_EXAMPLE = (97, 131)
EXPORT_CHECKS = [(64, 64), (70, 200), (160, 97)]


def _layout(net, layout):
    if layout == 'dense':
        return net.build_dense()
    return net.build()  # the classification layout: the defaults


@parametrize_networks
@pytest.mark.parametrize('layout', ['dense', 'classification'])
def test_torch_export_with_dynamic_sizes(net, layout):
    """torch.export with a dynamic height and width over 64..2048 gives the
    eager outputs at sizes other than the example input's, and refuses a
    size outside the range."""
    model = randomize(_layout(net, layout)).eval()
    program = export_program(model, torch.rand(1, 3, *EXPORT_EXAMPLE))
    ranges = sorted((r.lower, r.upper)
                    for r in program.range_constraints.values())
    assert ranges == [(64, 2048), (64, 2048)]
    exported = program.module()
    for size in EXPORT_CHECKS:
        x = torch.rand(1, 3, *size)
        with torch.no_grad():
            expected = model(x)
            got = exported(x)
        assert len(got) == len(expected)
        for e, g in zip(expected, got):
            torch.testing.assert_close(g, e, rtol=0, atol=1e-4)
    with pytest.raises(Exception, match='height|width|size|Guard'):
        exported(torch.rand(1, 3, 48, 64))


@parametrize_networks
def test_onnx_round_trip_of_the_dense_layout(net, tmp_path):
    """One ONNX file with dynamic height and width gives the PyTorch outputs
    in onnxruntime at two sizes other than the export size."""
    model = randomize(net.build_dense()).eval()
    path = export_onnx(model, torch.rand(1, 3, *EXPORT_EXAMPLE),
                       str(tmp_path / 'backbone.onnx'))
    assert [p.name for p in tmp_path.iterdir()] == ['backbone.onnx']
    diff = onnxruntime_max_diff(
        path, model, [torch.rand(1, 3, 64, 200),
                      torch.rand(1, 3, 150, 97)])
    assert diff <= 1e-4


@parametrize_networks
def test_torchscript_onnx_of_the_dense_layout(net, tmp_path):
    """The TorchScript-based ONNX exporter (``dynamo=False``, what mmdeploy
    1.x and most deployment scripts call) with a dynamic height and width
    gives the PyTorch outputs at the export size and at others. (Its tracer
    hands out sizes as tensors: tables built once per size and in-place
    writes into views gave ViL wrong numbers at the export size and out of
    range indices at others.)"""
    import onnxruntime as ort
    model = randomize(net.build_dense()).eval()
    example = torch.rand(1, 3, *EXPORT_EXAMPLE)
    names = [f'out{i}' for i in range(len(model(example)))]
    path = str(tmp_path / 'backbone.onnx')
    torch.onnx.export(
        model, (example, ), path, dynamo=False, opset_version=17,
        input_names=['x'], output_names=names,
        dynamic_axes=dict(x={2: 'h', 3: 'w'},
                          **{n: {2: f'{n}_h', 3: f'{n}_w'} for n in names}))
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    for size in [EXPORT_EXAMPLE, (64, 200), (150, 97)]:
        x = torch.rand(1, 3, *size)
        with torch.no_grad():
            expected = model(x)
        got = session.run(None, {'x': x.numpy()})
        for e, g in zip(expected, got):
            torch.testing.assert_close(torch.from_numpy(g), e, rtol=0,
                                       atol=1e-4, msg=str(size))


# --------------------------------------------------------------------------
# Initialisation
# --------------------------------------------------------------------------
@parametrize_networks
def test_init_cfg_is_applied_after_the_official_init(net):
    """A user's init_cfg of any type wins over the official init."""
    model = net.build_dense(init_cfg=dict(
        type='Constant', layer=['Linear', 'Conv2d'], val=0.5, bias=0.25))
    model.init_weights()
    layers = [m for m in model.modules()
              if type(m) in (nn.Linear, nn.Conv2d)]
    assert layers
    for layer in layers:
        assert torch.all(layer.weight == 0.5)
        assert layer.bias is None or torch.all(layer.bias == 0.25)


@parametrize_networks
def test_pretrained_load_survives_init_weights(net, tmp_path):
    source = randomize(net.build_dense())
    path = str(tmp_path / 'backbone.pth')
    save_checkpoint(
        {'state_dict': {'backbone.' + k: v
                        for k, v in source.state_dict().items()}}, path)
    model = net.build_dense(init_cfg=dict(
        type='Pretrained', checkpoint=path, prefix='backbone.'))
    model.init_weights()
    model.init_weights()  # a second call changes nothing
    for key, value in source.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value, msg=key)


@parametrize_networks
def test_pretrained_refuses_a_checkpoint_that_does_not_fit(net, tmp_path):
    """Never a half-loaded model: a missing key (other than the new output
    norms and pyramid) or a foreign key is an error naming it."""
    source = net.build_dense().state_dict()
    block_key = next(k for k in source if '.0.' in k and 'norm' not in k)
    cases = {
        'missing': {k: v for k, v in source.items() if k != block_key},
        'foreign': dict(source, **{'head.fc.weight': torch.zeros(2, 2)}),
    }
    for case, state in cases.items():
        path = str(tmp_path / f'{case}.pth')
        save_checkpoint({'state_dict': {'backbone.' + k: v
                                        for k, v in state.items()}}, path)
        model = net.build_dense(init_cfg=dict(
            type='Pretrained', checkpoint=path, prefix='backbone.'))
        expected = block_key if case == 'missing' else 'head.fc.weight'
        with pytest.raises(KeyError, match=re.escape(expected)):
            model.init_weights()
    # Another network's checkpoint.
    other = NETWORKS['hat_net' if net.cls is not HATNet else 'dhvt']
    path = str(tmp_path / 'other.pth')
    save_checkpoint({'state_dict': {
        'backbone.' + k: v
        for k, v in other.build_dense().state_dict().items()}}, path)
    model = net.build_dense(init_cfg=dict(
        type='Pretrained', checkpoint=path, prefix='backbone.'))
    with pytest.raises((KeyError, RuntimeError), match='missing|size'):
        model.init_weights()


# --------------------------------------------------------------------------
# Old argument names
# --------------------------------------------------------------------------
def test_deprecated_argument_names_still_work():
    with pytest.warns(FutureWarning, match="out_type='avg_featmap'"):
        old = HVT(HVT_1D, out_type='avg_token')
    assert old.out_type == 'avg_featmap'
    with pytest.warns(FutureWarning, match='pyramid_scales'):
        old = HVT(HVT_1D, out_type='featmap', out_indices=(1, 3),
                  out_scales=(1, 0.5))
    assert old.pyramid_scales == (1, 0.5)
    with pytest.warns(FutureWarning, match='out_norm_cfg'):
        old = HVT(HVT_1D, out_type='featmap', out_indices=(1, 3),
                  out_norms=True)
    assert isinstance(old.norm1, nn.LayerNorm) and not hasattr(old, 'norm3')
    with pytest.warns(FutureWarning, match='out_norm_cfg=None'):
        vil = ViL(NETWORKS['vil'].arch, out_norms=False)
    assert not hasattr(vil, 'norm3')
    with pytest.raises(ValueError, match='give .pyramid_scales. only'):
        HVT(HVT_1D, out_type='featmap', out_scales=(1, ),
            pyramid_scales=(1, ))


def test_the_contract_covers_every_network_of_the_table():
    assert {net.cls for net in NETWORKS.values()} == \
        {entry.backbone_class() for entry in TABLE}


@parametrize_networks
def test_declared_attributes_are_set(net):
    """What the base class declares a subclass must provide, it does."""
    from typing import get_type_hints

    from vit_backbones.models.backbones.base import VitBackbone
    model = net.build()
    declared = [name for name in VitBackbone.__annotations__
                if not hasattr(VitBackbone, name)]
    assert {'in_channels', 'min_size', 'out_type', 'out_indices',
            'out_norm_cfg'} <= set(declared)
    hints = get_type_hints(VitBackbone)
    for name in declared:
        assert hasattr(model, name), name
        assert name in hints
    assert model.out_type in model.OUT_TYPES


def test_networks_share_one_surface():
    """Every network takes the same argument names for the same things."""
    import inspect
    shared = {'arch', 'in_channels', 'out_indices', 'out_type',
              'out_norm_cfg', 'frozen_stages', 'norm_eval', 'with_cp',
              'init_cfg', 'drop_path_rate'}
    for net in (entry.backbone_class() for entry in TABLE):
        params = set(inspect.signature(net).parameters)
        assert shared <= params, (net.__name__, shared - params)
    for net in (HVT, DHVT):
        params = inspect.signature(net).parameters
        assert 'pyramid_scales' in params and 'pyramid_norm_cfg' in params


@pytest.mark.parametrize('module', [
    *(entry.backbone_module for entry in TABLE),
    'vit_backbones.models.utils.attention', 'vit_backbones.networks'
])
def test_docstring_examples_run(module):
    """The ``Examples:`` blocks of the docstrings are true."""
    import doctest
    import importlib
    torch.manual_seed(0)
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted and not result.failed
