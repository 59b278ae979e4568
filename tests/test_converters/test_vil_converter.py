"""The official ViL checkpoints through our converter reproduce the official
outputs (fixtures made by running microsoft/vision-longformer, see
tests/data/vil/README.md)."""
import os.path as osp
import tempfile
from collections import OrderedDict

import pytest
import torch
from helpers import DATA_ROOT
from mmengine.registry import init_default_scope
from mmengine.runner import save_checkpoint
from mmpretrain.registry import MODELS

from vit_backbones.converters import CheckpointMismatchError
from vit_backbones.converters.vil import convert, split_source
from vit_backbones.models.backbones.vil import ViL

FIXTURES = osp.join(DATA_ROOT, 'vil')


def _load(name):
    return torch.load(osp.join(FIXTURES, name), weights_only=True)


@pytest.fixture(scope='module')
def outputs():
    return _load('official_outputs.pth')


def _classifier(source):
    init_default_scope('mmpretrain')
    return MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='ViL', arch=source['arch'],
                          img_size=source['img_size']),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead',
                      num_classes=source['num_classes'],
                      in_channels=ViL.parse_official_arch(
                          source['arch'])['embed_dims'][-1]))).eval()


@pytest.mark.parametrize('name', ['rpb', 'ape'])
def test_fixture_logits_and_features(name, outputs):
    source = _load(f'official_{name}_cls.pth')
    assert not split_source(source)[1]
    state_dict = convert(source, arch=source['arch'], img_size=64)
    model = _classifier(source)
    model.load_state_dict(state_dict, strict=True)
    with torch.no_grad():
        logits = model(outputs['input'], mode='tensor')
    torch.testing.assert_close(logits, outputs[f'{name}_logits'],
                               rtol=1e-4, atol=1e-4)
    # the per-stage maps, as the official detectron2 backbone returns them
    backbone = ViL(source['arch'], img_size=64, out_indices=(0, 1, 2, 3),
                   out_norm_cfg=None).eval()
    backbone.load_state_dict(
        {k[9:]: v for k, v in state_dict.items()
         if k.startswith('backbone.') and not k.startswith('backbone.norm')})
    with torch.no_grad():
        feats = backbone(outputs['input'])
    for ours, theirs in zip(feats, outputs[f'{name}_feats']):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


def test_detectron2_checkpoint(outputs):
    net = _load('official_rpb_cls.pth')['net']
    model = {'backbone.bottom_up.' + k[len('module.'):]: v
             for k, v in net.items()}
    model['backbone.fpn_lateral2.weight'] = torch.zeros(256, 16, 1, 1)
    model['roi_heads.box_head.fc1.weight'] = torch.zeros(4, 4)
    model['head.cls_score.weight'] = torch.zeros(4, 4)  # RetinaNet head
    assert split_source({'model': model})[1]
    arch = _load('official_rpb_cls.pth')['arch']
    state_dict = convert({'model': model}, arch=arch, img_size=64)
    assert all(k.startswith('backbone.') for k in state_dict)
    backbone = ViL(arch, img_size=64, out_indices=(0, 1, 2, 3),
                   out_norm_cfg=None).eval()
    missing, unexpected = backbone.load_state_dict(
        {k[9:]: v for k, v in state_dict.items()}, strict=False)
    assert not missing and unexpected == ['norm3.weight', 'norm3.bias']
    with torch.no_grad():
        feats = backbone(outputs['input'])
    for ours, theirs in zip(feats, outputs['rpb_feats']):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


def test_classification_checkpoint_into_detection_backbone(outputs):
    """A classification checkpoint (full attention in stages 3-4) loads
    into the detection layout (Longformer everywhere) through
    init_cfg=Pretrained, matching the official converter.py followed by
    the official detection backbone."""
    state_dict = convert(_load('official_rpb_cls.pth'), validate=False)
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, 'vil_cls.pth')
        save_checkpoint({'state_dict': state_dict}, path)
        backbone = ViL(
            outputs['det_arch'], img_size=64, out_indices=(0, 1, 2, 3),
            out_norm_cfg=None,
            init_cfg=dict(type='Pretrained', checkpoint=path,
                          prefix='backbone.'))
        backbone.init_weights()
    backbone.eval()
    with torch.no_grad():
        feats = backbone(outputs['input'])
    for ours, theirs in zip(feats, outputs['cls_to_det_feats']):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


def test_wrappers_and_prefixes():
    net = _load('official_ape_cls.pth')['net']
    expected = convert({'net': net}, validate=False)
    bare = OrderedDict((k[len('module.'):], v) for k, v in net.items())
    for checkpoint in (bare, {'state_dict': bare}, {'model': net},
                       {'net': bare, 'epoch': 3}):
        state_dict = convert(checkpoint, validate=False)
        assert state_dict.keys() == expected.keys()
    assert not any(k.endswith(('relative_position_index',
                               '_global.weight', '_global.bias'))
                   for k in expected)


def test_rejections():
    net = dict(_load('official_rpb_cls.pth')['net'])
    with pytest.raises(CheckpointMismatchError,
                       match=r"not part of .*\['layer1.1.attn.foo'\]"):
        convert({'net': dict(net, **{'module.layer1.1.attn.foo': net[
            'module.layer1.1.attn.query.weight']})}, validate=False)
    with pytest.raises(CheckpointMismatchError, match='layer1.2.attn'):
        # attention weights in an MLP layer
        convert({'net': dict(net, **{'module.layer1.2.attn.kv.weight': net[
            'module.layer1.1.attn.kv.weight']})}, validate=False)
    shared = dict(net)
    key = 'module.layer1.1.attn.kv_global.weight'
    shared[key] = shared[key] + 1
    with pytest.raises(CheckpointMismatchError, match='SHARE_W'):
        convert({'net': shared}, validate=False)
    with pytest.raises(CheckpointMismatchError, match='layer1'):
        convert({'state_dict': {'conv1.weight': torch.zeros(1),
                                'fc.weight': torch.zeros(1)}})
    arch = _load('official_rpb_cls.pth')['arch']
    incomplete = OrderedDict(net)
    incomplete.pop('module.layer2.2.norm.bias')
    with pytest.raises(CheckpointMismatchError, match='missing'):
        convert({'net': incomplete}, arch=arch, img_size=64)
    with pytest.raises(CheckpointMismatchError, match='shape'):
        convert({'net': net}, arch=arch, img_size=96)
    with pytest.raises(ValueError, match='pass arch'):
        convert({'net': net})


def test_cli(tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'vil_to_mmpretrain',
        osp.join(osp.dirname(DATA_ROOT), '..', 'tools', 'model_converters',
                 'vil_to_mmpretrain.py'))
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    src = osp.join(FIXTURES, 'official_ape_cls.pth')
    dst = str(tmp_path / 'vil.pth')
    arch = _load('official_ape_cls.pth')['arch']
    cli.main([src, dst, '--arch', arch, '--img-size', '64'])
    saved = torch.load(dst, weights_only=True)
    assert 'backbone.stages.0.patch_embed.projection.weight' in saved[
        'state_dict']
    with pytest.raises(CheckpointMismatchError):
        cli.main([src, dst, '--arch', 'tiny'])
