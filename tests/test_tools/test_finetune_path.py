"""Publishing a classifier and fine-tuning it on detection, as a user does:

1. a training checkpoint (with optimizer, message hub and EMA weights) goes
   through ``tools/model_converters/publish_model.py``;
2. the published file loads with ``torch.load(weights_only=True)`` and its
   name carries the date and the first 8 hex digits of its sha256;
3. a detection config takes it through ``model.backbone.init_cfg``
   (``Pretrained``, ``prefix='backbone.'``), and every backbone weight is
   loaded except the detection-only layers.
"""
import datetime
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
from helpers import REPO_ROOT, build_model_from_config, load_config
from mmengine.logging import HistoryBuffer, MessageHub

from vit_backbones.tools.publish import publish_checkpoint, sha256_of

# (classification config, detection config, backbone keys the detection
# model has that a classifier does not).
CASES = {
    'hat_net': ('configs/hat_net/hat-net-tiny_8xb128_in1k.py',
                'configs/hat_net/retinanet_hat-net-tiny_fpn_1x_coco.py', ()),
    'vil': ('configs/vil/vil-tiny_8xb128_in1k.py',
            'configs/vil/retinanet_vil-tiny_fpn_1x_coco.py', ()),
    'hvt': ('configs/hvt/hvt-s-1_8xb128_in1k.py',
            'configs/hvt/retinanet_hvt-s-1_fpn_1x_coco.py',
            ('pyramid.', 'norm5.', 'norm7.')),
    'dhvt': ('configs/dhvt/dhvt-tiny-p16_4xb128_in1k.py',
             'configs/dhvt/retinanet_dhvt-tiny-p16_fpn_1x_coco.py',
             ('pyramid.', )),
}


def _training_checkpoint(cls_cfg, path, experiment_name='run_20261121_0000',
                         classes=('a', 'b')):
    """What mmengine's CheckpointHook writes for an EMA run."""
    model = build_model_from_config(cls_cfg)
    state = model.state_dict()
    raw = {f'module.{k}': v + 1 for k, v in state.items()
           if v.is_floating_point()}
    hub = MessageHub.get_instance('finetune-test')
    hub.update_scalar('train/loss', 1.0)
    assert isinstance(hub.log_scalars['train/loss'], HistoryBuffer)
    torch.save(
        dict(
            meta=dict(epoch=300, seed=0, cfg=cls_cfg.pretty_text,
                      experiment_name=experiment_name,
                      dataset_meta=dict(classes=classes)),
            state_dict=state,
            ema_state_dict=dict(steps=torch.tensor(10), **raw),
            optimizer=dict(state={}, param_groups=[]),
            param_schedulers=[],
            message_hub=hub.state_dict()), path)
    return state


@pytest.mark.parametrize('net', sorted(CASES))
def test_published_classifier_initialises_a_detector(net, tmp_path):
    cls_config, det_config, det_only = CASES[net]
    src = str(tmp_path / 'epoch_300.pth')
    state = _training_checkpoint(load_config(cls_config), src)
    with pytest.raises(Exception):
        torch.load(src, weights_only=True)  # the message hub's objects

    result = publish_checkpoint(src, str(tmp_path / f'{net}_in1k.pth'))
    today = datetime.date.today().strftime('%Y%m%d')
    name = osp.basename(result['path'])
    match = re.fullmatch(rf'{net}_in1k_{today}-([0-9a-f]{{8}})\.pth', name)
    assert match and match.group(1) == sha256_of(result['path'])[:8]
    published = torch.load(result['path'], weights_only=True)
    assert set(published) == {'state_dict', 'meta'}
    assert published['meta']['dataset_meta']['classes'] == ('a', 'b')
    for key, value in published['state_dict'].items():  # the EMA weights
        assert torch.equal(value, state[key])

    det_cfg = load_config(det_config)
    det_cfg.model.backbone.init_cfg.checkpoint = result['path']
    detector = build_model_from_config(det_cfg)  # runs init_weights()
    backbone_sd = {
        k[len('backbone.'):]: v
        for k, v in published['state_dict'].items()
        if k.startswith('backbone.')
    }
    # init_weights() loaded the published weights (those whose name and
    # shape are the same in both layouts; ViL's are adapted on loading)...
    det_state = detector.backbone.state_dict()
    same = [
        k for k, v in backbone_sd.items()
        if k in det_state and det_state[k].shape == v.shape
    ]
    assert len(same) > len(backbone_sd) // 2
    for key in same:
        assert torch.equal(det_state[key], backbone_sd[key]), key
    # ... and nothing of the backbone is left out but detection-only layers.
    loaded = detector.backbone.load_state_dict(backbone_sd, strict=False)
    assert all(k.startswith(det_only) for k in loaded.missing_keys), \
        loaded.missing_keys
    assert {k.split('.')[0] + '.' for k in loaded.missing_keys} == \
        set(det_only)


def test_publish_model_cli_raw_weights(tmp_path):
    cls_cfg = load_config(CASES['hat_net'][0])
    src = str(tmp_path / 'epoch_1.pth')
    state = _training_checkpoint(
        cls_cfg, src, experiment_name='hat-net-tiny_8xb128_in1k_20261121_0829')
    proc = subprocess.run([
        sys.executable, 'tools/model_converters/publish_model.py', src,
        str(tmp_path / 'hat-net-tiny_8xb128_in1k.pth'), '--no-ema',
        '--format', 'pth', 'safetensors'
    ], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'Name: hat-net-tiny_8xb128_in1k' in proc.stdout
    # The metafile entry says what the checkpoint's config tells.
    for line in ('In Collection: HAT-Net', 'Task: Image Classification',
                 'Dataset: ImageNet-1k',
                 'Config: configs/hat_net/hat-net-tiny_8xb128_in1k.py'):
        assert line in proc.stdout, proc.stdout
    path = re.search(r'Published (\S+\.pth)', proc.stdout).group(1)
    published = torch.load(path, weights_only=True)
    key = next(k for k, v in state.items() if v.is_floating_point())
    assert torch.equal(published['state_dict'][key], state[key] + 1)
    assert published['meta']['ema'] is False
    # The weights-only safetensors file beside it: named by its own hash,
    # the same tensors, the metadata in its header, its own metafile entry.
    from vit_backbones.checkpoint import load_checkpoint_file
    other = re.search(r'Published (\S+\.safetensors) \(sha256 (\w+)',
                      proc.stdout)
    assert other, proc.stdout
    assert re.fullmatch(r'hat-net-tiny_8xb128_in1k_\d{8}-' + other.group(2)[:8]
                        + r'\.safetensors', osp.basename(other.group(1)))
    assert sha256_of(other.group(1)) == other.group(2)
    assert f'Weights: https://example.com/vit_backbones/' \
        f'{osp.basename(other.group(1))}' in proc.stdout
    weights = load_checkpoint_file(other.group(1))
    assert weights['meta']['ema'] is False
    assert weights['meta']['network'] == 'HATNet'
    assert sorted(weights['state_dict']) == sorted(published['state_dict'])
    for name, value in published['state_dict'].items():
        assert torch.equal(weights['state_dict'][name], value), name


def test_published_classifier_through_mmpretrain_api(tmp_path):
    """``get_model(<our name>, pretrained=<published file>)`` loads the
    weights and ``inference_model`` classifies an image with them, with
    torch's default ``weights_only=True`` loading (as in a user's script,
    where the tools' workaround is not set)."""
    import numpy as np
    from mmpretrain import get_model, inference_model

    import vit_backbones  # noqa: F401  (registers our model index)

    cls_cfg = load_config(CASES['hat_net'][0])
    classes = tuple(f'class{i}' for i in range(1000))
    src = str(tmp_path / 'epoch_300.pth')
    state = _training_checkpoint(cls_cfg, src, classes=classes)
    result = publish_checkpoint(src, str(tmp_path / 'hat-net-tiny_in1k.pth'))

    model = get_model('hat-net-tiny_8xb128_in1k', pretrained=result['path'])
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key
    image = np.random.RandomState(0).randint(0, 256, (224, 224, 3),
                                             dtype=np.uint8)
    out = inference_model(model, image)
    assert out['pred_class'] in classes
    assert 0 <= out['pred_score'] <= 1
