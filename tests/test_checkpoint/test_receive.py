"""Official weights in one step, and never a silently random model.

No internet: a loopback HTTP server serves the official-format fixtures of
tests/data (tiny models written by the official code, see the READMEs
there) under the names the official releases use. Each network with
official weights is loaded three ways (the backbone's ``Pretrained`` init,
``get_model(config, pretrained=URL)``, ``get_model(name, pretrained=True)``
with the model zoo's URL mapped to the server) and compared with the
command-line converter's route.
"""
import http.server
import importlib.util
import json
import os
import os.path as osp
import re
import threading

import pytest
import torch
from helpers import DATA_ROOT, REPO_ROOT

import vit_backbones  # noqa: F401
from vit_backbones.converters import CheckpointMismatchError
from vit_backbones.model_zoo import NoPublishedWeightsError
from vit_backbones.checkpoint.files import (CheckpointDownloadError,
                                            cache_file_name)


def _fixture(path):
    return torch.load(osp.join(DATA_ROOT, path), weights_only=True)


HAT_NET_ARCH = dict(embed_dims=[16, 32, 48, 64], depths=[1, 1, 2, 1],
                    head_dim=16, mlp_ratios=[2, 2, 2, 2],
                    kernel_sizes=[3, 5, 3, 3])
HVT_ARCH = dict(embed_dims=48, num_layers=4, num_heads=2, patch_size=16,
                pool_block_width=2)
VIL_ARCH = _fixture('vil/official_rpb_cls.pth')['arch']

# network: (official file as published, its URL path on the server, the
# backbone, the classifier's input channels, converter CLI arguments, the
# model zoo entry whose URL is mapped to the server)
CASES = {
    'hat_net': dict(
        official=lambda: dict(model=_fixture(
            'hat_net/official_state_dict.pth')),
        path='yun-liu/HAT-Net/releases/download/v2.0/HAT-Net_Tiny.pth',
        backbone=dict(type='HATNet', arch=HAT_NET_ARCH),
        channels=64,
        cli=['--arch', json.dumps(HAT_NET_ARCH)],
        zoo='hat-net-tiny_3rdparty_in1k',
        size=(64, 64)),
    'hvt': dict(
        official=lambda: dict(model=_fixture('hvt/hvt_tiny_official.pth')),
        path='zhuang-group/HVT/releases/download/v1.1/hvt_s_1.pth',
        backbone=dict(type='HVT', arch=HVT_ARCH, img_size=(64, 80)),
        channels=48,
        cli=['--arch', json.dumps(HVT_ARCH), '--img-size', '64', '80'],
        zoo='hvt-s-1_3rdparty_in1k',
        size=(64, 80),
        neck=None),  # HVT pools its tokens itself (paper Eq. 6)
    'vil': dict(
        official=lambda: _fixture('vil/official_rpb_cls.pth'),
        path='imagenet/msvit/visionlongformer/small1281_relative/'
        'model_best.pth',
        backbone=dict(type='ViL', arch=VIL_ARCH, img_size=64),
        channels=48,
        cli=['--arch', VIL_ARCH, '--img-size', '64'],
        zoo='vil-small_3rdparty_in1k',
        size=(64, 64)),
}

DHVT_ARCH = dict(embed_dims=48, num_layers=2, num_heads=3, patch_size=16)
#: CASES and DHVT, which has no published weights to serve.
ALL_CASES = dict(CASES, dhvt=dict(
    official=lambda: _fixture('dhvt/official_tiny_in1k_p16.pth'),
    backbone=dict(type='DHVT', arch=DHVT_ARCH),
    channels=48,
    cli=[],
    size=(64, 64),
    neck=None))  # DHVT's avg_featmap output is already a vector


class _Handler(http.server.BaseHTTPRequestHandler):
    """GET /<path>: the bytes registered for it (404 otherwise); every
    request is counted."""

    def do_GET(self):  # noqa: N802 - http.server's name
        server = self.server
        with server.lock:
            server.hits[self.path] = server.hits.get(self.path, 0) + 1
        body = server.files.get(self.path.lstrip('/'))
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope='module')
def server():
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
    httpd.files, httpd.hits, httpd.lock = {}, {}, threading.Lock()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = f'http://127.0.0.1:{httpd.server_port}/'
    yield httpd
    httpd.shutdown()


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty torch hub cache (``TORCH_HOME``)."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    return tmp_path / 'torch_home' / 'hub' / 'checkpoints'


def _publish(server, tmp_path, net):
    """Serve the network's official file; return its URL."""
    case = CASES[net]
    path = tmp_path / f'{net}_official.pth'
    torch.save(case['official'](), str(path))
    server.files[case['path']] = path.read_bytes()
    return server.url + case['path']


def _cli_route(tmp_path, net, ext='pth'):
    """The converter CLI's file (the offline route), as ``.pth`` or
    ``.safetensors``."""
    case = ALL_CASES[net]
    script = osp.join(REPO_ROOT, 'tools', 'model_converters',
                      f'{net}_to_mmpretrain.py')
    spec = importlib.util.spec_from_file_location(f'{net}_cli', script)
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    src, dst = tmp_path / 'src.pth', tmp_path / f'converted.{ext}'
    torch.save(case['official'](), str(src))
    cli.main([str(src), str(dst), *case['cli']])
    return str(dst)


def _classifier_config(net):
    from mmengine.config import Config
    case = ALL_CASES[net]
    return Config(dict(model=dict(
        type='ImageClassifier',
        backbone=case['backbone'],
        neck=case.get('neck', dict(type='GlobalAveragePooling')),
        head=dict(type='LinearClsHead', num_classes=10,
                  in_channels=case['channels']))))


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    """Build in mmpretrain's scope whatever scope an earlier test of this
    worker left current: in an mmdet or mmseg scope, ``MODELS.build`` does
    not find the backbones by their bare names."""
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield


def _backbone(net, checkpoint, prefix=None):
    from mmpretrain.registry import MODELS
    init_cfg = dict(type='Pretrained', checkpoint=checkpoint)
    if prefix:
        init_cfg['prefix'] = prefix
    model = MODELS.build(dict(ALL_CASES[net]['backbone'], init_cfg=init_cfg))
    model.init_weights()
    return model.eval()


def _logits(model, net):
    torch.manual_seed(0)
    x = torch.randn(1, 3, *ALL_CASES[net]['size'])
    with torch.no_grad():
        return model(x, mode='tensor') if hasattr(model, 'head') else \
            model(x)


def _assert_same(a, b):
    a = a if isinstance(a, (tuple, list)) else [a]
    b = b if isinstance(b, (tuple, list)) else [b]
    assert len(a) == len(b)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


@pytest.mark.parametrize('net', sorted(CASES))
def test_url_routes_equal_the_cli_route(net, server, hub, tmp_path):
    from mmpretrain import get_model
    url = _publish(server, tmp_path, net)
    converted = _cli_route(tmp_path, net)

    # Pretrained: the official URL, no prefix needed.
    expected = _logits(_backbone(net, converted, 'backbone.'), net)
    hits = dict(server.hits)
    _assert_same(_logits(_backbone(net, url), net), expected)
    assert server.hits['/' + CASES[net]['path']] == \
        hits.get('/' + CASES[net]['path'], 0) + 1
    assert sorted(os.listdir(hub)) == [cache_file_name(url)]
    # A second load reads the cache.
    _assert_same(_logits(_backbone(net, url), net), expected)
    assert server.hits['/' + CASES[net]['path']] == \
        hits.get('/' + CASES[net]['path'], 0) + 1

    # get_model with a URL (whole classifier, head included).
    reference = get_model(_classifier_config(net), pretrained=converted)
    model = get_model(_classifier_config(net), pretrained=url)
    _assert_same(_logits(model, net), _logits(reference, net))

    # get_model(name, pretrained=True): the model zoo's URL, mapped to the
    # server (the tiny fixture replaces the released model's arch).
    case = CASES[net]
    official_url = vit_backbones.model_zoo._registered_models()[
        case['zoo']].weights
    assert official_url.endswith(case['path'].split('/')[-1])
    model = get_model(
        case['zoo'], pretrained=True,
        url_mapping=(r'^https://[^/]+/(.*)$', server.url + r'\1'),
        backbone=dict(case['backbone'], _delete_=True),
        head=dict(num_classes=10, in_channels=case['channels']))
    loaded = model.state_dict()
    for key, value in torch.load(converted,
                                 weights_only=True)['state_dict'].items():
        assert torch.equal(loaded[key], value), key


def test_cache_names_of_generic_files():
    assert cache_file_name('https://h/a/b/hvt_s_1.pth') == 'hvt_s_1.pth'
    assert cache_file_name('https://h/m/small1281_relative/model_best.pth') \
        == 'small1281_relative_model_best.pth'


@pytest.mark.parametrize('cut', ['half', 'empty'])
def test_truncated_download_is_refused_and_not_cached(server, hub, tmp_path,
                                                      cut):
    url = _publish(server, tmp_path, 'hat_net')
    body = server.files[CASES['hat_net']['path']]
    server.files[f'cut/{cut}.pth'] = body[:len(body) // 2] \
        if cut == 'half' else b''
    with pytest.raises(CheckpointDownloadError,
                       match=f'{server.url}cut/{cut}.pth.*incomplete'):
        _backbone('hat_net', f'{server.url}cut/{cut}.pth')
    assert not hub.exists() or os.listdir(hub) == []
    del url


def test_http_errors_name_the_url(server, hub):
    from mmpretrain import get_model
    missing = server.url + 'no/such/file.pth'
    with pytest.raises(CheckpointDownloadError,
                       match=f'Could not download {missing}.*404.*by hand'):
        _backbone('hat_net', missing)
    # Nothing listens on port 9 (discard) of the loopback interface.
    unreachable = 'http://127.0.0.1:9/HAT-Net_Tiny.pth'
    with pytest.raises(CheckpointDownloadError,
                       match=f'Could not download {unreachable}'):
        get_model(_classifier_config('hat_net'), pretrained=unreachable)
    assert not hub.exists() or os.listdir(hub) == []


def test_pretrained_true_without_weights_raises():
    from mmpretrain import get_model
    with pytest.raises(NoPublishedWeightsError,
                       match="hat-net-tiny_8xb128_in1k has no published.*"
                       "'hat-net-tiny_3rdparty_in1k'"):
        get_model('hat-net-tiny_8xb128_in1k', pretrained=True)
    with pytest.raises(NoPublishedWeightsError, match='dhvt-tiny-p16'):
        get_model('dhvt-tiny-p16_4xb128_in1k', pretrained=True)


def test_official_file_of_another_network_or_arch_raises(tmp_path):
    from mmpretrain import get_model
    hvt = tmp_path / 'hvt_official.pth'
    torch.save(CASES['hvt']['official'](), str(hvt))
    with pytest.raises(CheckpointMismatchError,
                       match='official HVT checkpoint.*into HATNet'):
        _backbone('hat_net', str(hvt))
    with pytest.raises(CheckpointMismatchError,
                       match='official HVT checkpoint.*into HATNet'):
        get_model(_classifier_config('hat_net'), pretrained=str(hvt))
    # The same network, another arch: the shapes are named.
    hat_net = tmp_path / 'hat_net_official.pth'
    torch.save(CASES['hat_net']['official'](), str(hat_net))
    wider = dict(CASES['hat_net']['backbone'],
                 arch=dict(HAT_NET_ARCH, embed_dims=[16, 32, 48, 96]))
    from mmpretrain.registry import MODELS
    model = MODELS.build(dict(wider, init_cfg=dict(
        type='Pretrained', checkpoint=str(hat_net))))
    with pytest.raises(CheckpointMismatchError, match='shape mismatches'):
        model.init_weights()


def test_whole_model_loads_are_never_half_loaded(tmp_path):
    """mmengine's load_checkpoint (get_model, load_from, tools/test.py)
    loads with strict=False and only logs; the backbone refuses instead."""
    from mmengine.runner import load_checkpoint
    from mmpretrain import get_model
    model = get_model(_classifier_config('hat_net'))
    state = model.state_dict()
    dropped = 'backbone.stages.1.blocks.0.attn.qkv.weight'
    assert dropped in state
    path = tmp_path / 'partial.pth'
    torch.save(dict(state_dict={k: v for k, v in state.items()
                                if k != dropped}, meta={}), str(path))
    with pytest.raises(CheckpointMismatchError, match=dropped):
        load_checkpoint(model, str(path), strict=False)
    # A head-only mismatch (another number of classes) is reported and
    # loads the backbone.
    other = get_model(_classifier_config('hat_net'),
                      head=dict(num_classes=3))
    full = tmp_path / 'full.pth'
    torch.save(dict(state_dict=state, meta={}), str(full))
    load_checkpoint(other, str(full), strict=False)
    for key, value in other.backbone.state_dict().items():
        assert torch.equal(value, state['backbone.' + key]), key


def _two_process_download(rank, url, torch_home, port, result):
    os.environ.update(TORCH_HOME=torch_home, MASTER_ADDR='127.0.0.1',
                      MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE='2', LOCAL_RANK=str(rank))
    torch.distributed.init_process_group('gloo', rank=rank, world_size=2)
    try:
        import vit_backbones  # noqa: F401
        from vit_backbones.models import HATNet
        backbone = HATNet(HAT_NET_ARCH, init_cfg=dict(type='Pretrained',
                                                      checkpoint=url))
        backbone.init_weights()
        result[rank] = backbone.state_dict()['patch_embed.conv1.weight']
    finally:
        torch.distributed.destroy_process_group()


def test_two_processes_download_once(server, tmp_path):
    import socket
    url = _publish(server, tmp_path, 'hat_net')
    before = server.hits.get('/' + CASES['hat_net']['path'], 0)
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    manager = torch.multiprocessing.get_context('spawn').Manager()
    result = manager.dict()
    torch.multiprocessing.spawn(
        _two_process_download,
        args=(url, str(tmp_path / 'torch_home'), port, result), nprocs=2)
    assert server.hits['/' + CASES['hat_net']['path']] == before + 1
    expected = CASES['hat_net']['official']()['model']['patch_embed.0.weight']
    assert torch.equal(result[0], expected)
    assert torch.equal(result[1], expected)


# Dense configs whose variant has no official ImageNet weights; their
# config says so and points at the checkpoint the user has to make.
NO_OFFICIAL_WEIGHTS = {
    'dhvt': 'DHVT published none',
    'hvt-s-2-2d': 'no weights are released for this model',
    'vil-base-d': 'No official ImageNet-1k ViL-Base-D weights exist',
}


def _dense_configs():
    import glob
    return sorted(
        osp.relpath(p, REPO_ROOT)
        for p in glob.glob(osp.join(REPO_ROOT, 'configs', '*', '*.py'))
        if osp.basename(p).startswith(('retinanet_', 'mask-rcnn_', 'fpn_'))
        and '/demo/' not in p)


@pytest.fixture(scope='module')
def zoo_archs():
    """{official weights URL: (network folder, backbone arch)} of the
    model zoo's *_3rdparty_* entries."""
    from helpers import load_config
    archs = {}
    for name, model in vit_backbones.model_zoo._registered_models().items():
        ours = str(model.config).startswith(osp.join(REPO_ROOT, 'configs'))
        if ours and '_3rdparty_' in name:
            cfg = load_config(model.config)
            archs[model.weights] = (osp.basename(osp.dirname(model.config)),
                                    cfg.model.backbone.arch)
    return archs


@pytest.mark.parametrize('path', _dense_configs())
def test_dense_configs_start_from_official_weights(path, zoo_archs):
    """python tools/train.py CONFIG needs nothing else: the backbone starts
    from the official weights of its own variant (a URL, converted while it
    loads), or the config says that its variant has none."""
    from helpers import load_config
    cfg = load_config(path)
    backbone = cfg.model.backbone
    checkpoint = backbone.init_cfg.checkpoint
    text = open(osp.join(REPO_ROOT, path)).read()
    if checkpoint.startswith('https://'):
        assert zoo_archs.get(checkpoint) == (path.split('/')[1],
                                             backbone.arch), checkpoint
        return
    reason = [why for key, why in NO_OFFICIAL_WEIGHTS.items()
              if f'_{key}' in path or f'/{key}/' in path]
    assert reason, f'{path} starts from {checkpoint}, not official weights'
    base = ''.join(
        open(osp.join(REPO_ROOT, 'configs', path.split('/')[1], '_base_',
                      name)).read()
        for name in os.listdir(osp.join(REPO_ROOT, 'configs',
                                        path.split('/')[1], '_base_')))
    assert reason[0].lower() in (text + base).lower(), path


def test_a_missing_checkpoint_says_where_weights_come_from(tmp_path):
    from mmpretrain.registry import MODELS

    from vit_backbones.models import DHVT
    missing = str(tmp_path / 'dhvt-tiny-p16_in1k.pth')
    model = MODELS.build(dict(type='DHVT', arch='tiny-cifar-p4',
                              init_cfg=dict(type='Pretrained',
                                            checkpoint=missing)))
    with pytest.raises(FileNotFoundError, match=re.escape(missing) + '.*' +
                       re.escape(DHVT.MISSING_CHECKPOINT_HINT[:30])):
        model.init_weights()


# --------------------------------------------------------------------------
# A model that is not ours loads as mmengine alone loads it
# --------------------------------------------------------------------------
def _resnet(scope):
    import importlib
    registry = importlib.import_module(f'{scope}.registry').MODELS
    torch.manual_seed(0)
    return registry.build(dict(type='ResNet', depth=18))


def _load_as_mmengine_alone(model, path, **kwargs):
    """``load_checkpoint`` with every change of the package undone (its
    safe reader and the receiving wrapper), then made again."""
    from mmengine.runner import load_checkpoint

    from vit_backbones import toolbox_changes
    toolbox_changes.undo()
    try:
        return load_checkpoint(model, path, **kwargs)
    finally:
        toolbox_changes.apply()


@pytest.fixture
def no_conversion(monkeypatch):
    """Fail on any trial conversion: a model that is not ours must not
    make one."""
    from vit_backbones.checkpoint import formats

    def refuse(*args, **kwargs):
        raise AssertionError('a converter ran for a model that is not ours')

    monkeypatch.setattr(formats, 'convert_as', refuse)


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmdet'])
@pytest.mark.parametrize('content', ['resnet', 'official_hat_net'])
def test_other_models_load_as_mmengine_alone_loads_them(
        scope, content, tmp_path, no_conversion):
    """A ResNet of mmpretrain or mmdet gets a plain state dict, or an
    official HAT-Net file, through ``mmengine.runner.load_checkpoint``
    exactly as without this package: the same returned checkpoint, the
    same weights, no conversion."""
    from mmengine.runner import load_checkpoint
    source = _resnet(scope)
    if content == 'resnet':
        with torch.no_grad():
            for param in source.parameters():
                param.add_(1.)
        state = source.state_dict()
    else:
        state = _fixture('hat_net/official_state_dict.pth')
    path = str(tmp_path / 'weights.pth')
    torch.save(state, path)
    ours, alone = _resnet(scope), _resnet(scope)
    returned = load_checkpoint(ours, path, strict=False)
    expected = _load_as_mmengine_alone(alone, path, strict=False)
    assert list(returned) == list(expected) == list(state)
    for key in state:
        assert torch.equal(returned[key], expected[key]), key
    for (key, a), b in zip(ours.state_dict().items(),
                           alone.state_dict().values()):
        assert torch.equal(a, b), key
    if content == 'resnet':
        for key, value in state.items():
            assert torch.equal(ours.state_dict()[key], value), key


def test_an_official_file_is_converted_for_our_backbone_only(tmp_path):
    """The same official HAT-Net file through the same ``load_checkpoint``:
    converted into our HAT-Net, untouched for a ResNet."""
    from mmengine.runner import load_checkpoint
    from mmpretrain.registry import MODELS
    path = str(tmp_path / 'HAT-Net_Tiny.pth')
    torch.save(_fixture('hat_net/official_state_dict.pth'), path)
    ours = MODELS.build(CASES['hat_net']['backbone'])
    returned = load_checkpoint(ours, path, strict=True)
    assert returned['meta']['network'] == 'HATNet'
    official = _fixture('hat_net/official_state_dict.pth')
    assert torch.equal(ours.state_dict()['patch_embed.conv1.weight'],
                       official['patch_embed.0.weight'])
    assert 'patch_embed.0.weight' in load_checkpoint(_resnet('mmpretrain'),
                                                     path)


# --------------------------------------------------------------------------
# safetensors
# --------------------------------------------------------------------------
@pytest.mark.parametrize('net', sorted(ALL_CASES))
def test_safetensors_round_trip_equals_the_pth_route(net, tmp_path):
    """The converter writes DST.safetensors as it writes DST.pth; both give
    the same outputs through Pretrained and get_model, and the header says
    which network it is."""
    from mmpretrain import get_model

    from vit_backbones.checkpoint import load_checkpoint_file
    pth = _cli_route(tmp_path, net)
    safetensors = _cli_route(tmp_path, net, ext='safetensors')
    with open(safetensors, 'rb') as f:
        assert b'pickle' not in f.read(64)  # a header, not a pickle
    loaded = load_checkpoint_file(safetensors)
    assert loaded['meta']['network'] == ALL_CASES[net]['backbone']['type']
    expected = _logits(_backbone(net, pth, 'backbone.'), net)
    _assert_same(_logits(_backbone(net, safetensors, 'backbone.'), net),
                 expected)
    reference = get_model(_classifier_config(net), pretrained=pth)
    model = get_model(_classifier_config(net), pretrained=safetensors)
    _assert_same(_logits(model, net), _logits(reference, net))


def test_safetensors_url_downloads_once(server, hub, tmp_path):
    """A .safetensors URL: downloaded once into the hub cache, then read
    from it."""
    safetensors = _cli_route(tmp_path, 'hat_net', ext='safetensors')
    pth = _cli_route(tmp_path, 'hat_net')
    path = 'weights/hat-net-tiny.safetensors'
    server.files[path] = open(safetensors, 'rb').read()
    url = server.url + path
    expected = _logits(_backbone('hat_net', pth, 'backbone.'), 'hat_net')
    for _ in range(2):
        _assert_same(_logits(_backbone('hat_net', url, 'backbone.'),
                             'hat_net'), expected)
    assert server.hits['/' + path] == 1
    assert sorted(os.listdir(hub)) == ['hat-net-tiny.safetensors']


def test_truncated_safetensors_is_refused(server, hub, tmp_path):
    from vit_backbones.checkpoint import (CheckpointFileError,
                                          load_checkpoint_file)
    safetensors = _cli_route(tmp_path, 'hat_net', ext='safetensors')
    data = open(safetensors, 'rb').read()
    for name in ('cut.safetensors', 'cut.bin'):  # the name does not matter
        cut = tmp_path / name
        cut.write_bytes(data[:len(data) - 100])
        with pytest.raises(CheckpointFileError,
                           match='not a complete safetensors file'):
            load_checkpoint_file(str(cut))
        with pytest.raises(CheckpointFileError,
                           match='not a complete safetensors file'):
            _backbone('hat_net', str(cut), 'backbone.')
    server.files['cut/hat-net.safetensors'] = data[:len(data) - 100]
    with pytest.raises(CheckpointDownloadError,
                       match='hat-net.safetensors is incomplete'):
        _backbone('hat_net', server.url + 'cut/hat-net.safetensors')
    assert not hub.exists() or os.listdir(hub) == []


@pytest.mark.parametrize('case', ['missing', 'shape'])
def test_safetensors_that_does_not_fit_names_the_keys(case, tmp_path):
    from mmengine.runner import load_checkpoint
    from mmpretrain import get_model

    from vit_backbones.checkpoint import (load_checkpoint_file,
                                          save_checkpoint)
    loaded = load_checkpoint_file(
        _cli_route(tmp_path, 'hat_net', ext='safetensors'))
    state = loaded['state_dict']
    key = 'backbone.stages.1.blocks.0.attn.qkv.weight'
    if case == 'missing':
        del state[key]
    else:
        state[key] = state[key][:-1]
    path = str(tmp_path / 'bad.safetensors')
    save_checkpoint(state, path, loaded['meta'])
    with pytest.raises(CheckpointMismatchError,
                       match=re.escape(key[len('backbone.'):])):
        _backbone('hat_net', path, 'backbone.')
    with pytest.raises(CheckpointMismatchError, match=re.escape(key)):
        load_checkpoint(get_model(_classifier_config('hat_net')), path)


def test_safetensors_header_carries_the_layout_version(tmp_path):
    """A DHVT state dict of the version-1 layout (``ln1``, renamed
    ``norm``) keeps its version through safetensors and is migrated on
    load; the version-2 file loads unchanged."""
    from mmpretrain.registry import MODELS

    from vit_backbones.checkpoint import (load_checkpoint_file,
                                          save_checkpoint)
    from vit_backbones.models import DHVT
    source = MODELS.build(dict(type='DHVT', arch=DHVT_ARCH))
    state = source.state_dict()
    assert state._metadata['']['version'] == DHVT._version == 2
    old = type(state)((k.replace('norm.', 'ln1.') if k.startswith('norm.')
                       else k, v) for k, v in state.items())
    old._metadata = type(state._metadata)(
        (name, dict(entry)) for name, entry in state._metadata.items())
    old._metadata['']['version'] = 1
    assert any(k.startswith('ln1.') for k in old)
    for layout, weights in (('old', old), ('new', state)):
        path = str(tmp_path / f'{layout}.safetensors')
        save_checkpoint(weights, path, dict(network='DHVT'))
        read = load_checkpoint_file(path)['state_dict']
        assert read._metadata['']['version'] == (1 if layout == 'old' else 2)
        model = MODELS.build(dict(type='DHVT', arch=DHVT_ARCH, init_cfg=dict(
            type='Pretrained', checkpoint=path)))
        model.init_weights()
        for key, value in state.items():
            assert torch.equal(model.state_dict()[key], value), (layout, key)


def _runner_load(model, path):
    """``Runner.load_checkpoint`` (``load_from``, ``--resume``'s weights,
    the toolboxes' ``tools/test.py``) on ``model``, without building a
    whole runner."""
    from types import SimpleNamespace

    from mmengine.logging import MMLogger
    from mmengine.runner import Runner
    runner = SimpleNamespace(model=model, call_hook=lambda *a, **k: None,
                             logger=MMLogger.get_current_instance())
    return Runner.load_checkpoint(runner, path)


@pytest.mark.parametrize('file', ['official', 'safetensors'])
def test_load_from_converts_and_reads_safetensors_for_our_models(
        file, tmp_path):
    """The runner's route: an official file converted, or a safetensors
    file read, into a classifier that holds our backbone, equal to the
    converter's .pth."""
    from mmpretrain import get_model
    reference = get_model(_classifier_config('hat_net'),
                          pretrained=_cli_route(tmp_path, 'hat_net'))
    if file == 'official':
        path = str(tmp_path / 'HAT-Net_Tiny.pth')
        torch.save(CASES['hat_net']['official'](), path)
    else:
        path = _cli_route(tmp_path, 'hat_net', ext='safetensors')
    model = get_model(_classifier_config('hat_net'))
    _runner_load(model, path)
    _assert_same(_logits(model, 'hat_net'), _logits(reference, 'hat_net'))


def test_load_from_leaves_other_models_alone(tmp_path, no_conversion):
    path = str(tmp_path / 'HAT-Net_Tiny.pth')
    torch.save(_fixture('hat_net/official_state_dict.pth'), path)
    resnet = _resnet('mmdet')
    before = {k: v.clone() for k, v in resnet.state_dict().items()}
    returned = _runner_load(resnet, path)
    assert 'patch_embed.0.weight' in returned
    for key, value in resnet.state_dict().items():
        assert torch.equal(value, before[key]), key
