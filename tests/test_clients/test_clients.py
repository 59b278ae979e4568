"""The package as users meet it through the OpenMMLab ecosystem's own doors.

Everything here runs against the package installed **from its wheel** into
a throwaway environment that reuses this stack's site-packages (no network,
no clone on the path), and drives it with the toolboxes' own clients:
mmpretrain's, mmdet's and mmseg's ``tools/train.py`` and ``tools/test.py``
as their wheels ship them (``<toolbox>/.mim/tools/``), the four
inferencers, mmpretrain's Grad-CAM script and mim. The configs come from
the installed package's ``.mim/configs/``; the models are the demo
configs' (the real backbones, small images, one or two iterations).
"""
import importlib.metadata
import importlib.util
import os
import os.path as osp
import shutil
import site
import subprocess
import sys
import textwrap

import pytest
from helpers import REPO_ROOT, short_run_options

from vit_backbones.tools.demo_data import make_demo_data

pytest.importorskip('mim', reason='mim is installed by tools/install.sh')
pytest.importorskip('pytorch_grad_cam',
                    reason='grad-cam is a test extra (setup.py)')

SIZES = dict(cls=dict(train=2, val=1, image=64),
             det=dict(train=2, val=2, image=128),
             seg=dict(train=2, val=2, image=128))
#: What the wheel is built from: the files setup.py and MANIFEST.in name.
SOURCES = ('setup.py', 'MANIFEST.in', 'README.md', 'model-index.yml',
           'configs', 'tools', 'vit_backbones')


def _toolbox_tools(module):
    """``<toolbox>/.mim/tools`` of an installed toolbox."""
    origin = importlib.util.find_spec(module).origin
    return osp.join(osp.dirname(origin), '.mim', 'tools')


def _run(args, cwd, timeout=600):
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1',
               PYTHONNOUSERSITE='1')
    env.pop('PYTHONPATH', None)
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


class Installed:
    """A throwaway environment with the package installed from its wheel."""

    def __init__(self, root):
        self.root = str(root)
        src = osp.join(self.root, 'src')
        os.makedirs(src)
        ignore = shutil.ignore_patterns('__pycache__', '*.pyc')
        for name in SOURCES:
            path = osp.join(REPO_ROOT, name)
            if osp.isdir(path):
                # symlinks=True: vit_backbones/.mim/ holds links, as in git.
                shutil.copytree(path, osp.join(src, name), symlinks=True,
                                ignore=ignore)
            else:
                shutil.copy(path, src)
        dist = osp.join(self.root, 'dist')
        _run([sys.executable, '-m', 'pip', 'wheel', '--no-deps',
              '--no-build-isolation', '--no-index', '-q', '-w', dist, src],
             cwd=self.root)
        (self.wheel, ) = [osp.join(dist, f) for f in os.listdir(dist)]
        env = osp.join(self.root, 'env')
        _run([sys.executable, '-m', 'venv', '--without-pip', env],
             cwd=self.root)
        self.python = osp.join(env, 'bin', 'python')
        self.site = _run([self.python, '-c', 'import sysconfig; '
                          'print(sysconfig.get_paths()["purelib"])'],
                         cwd=self.root).strip()
        # The stack's packages, as plain path entries: the .pth files there
        # (the clone's editable install among them) are not processed.
        with open(osp.join(self.site, 'stack.pth'), 'w') as f:
            f.write('\n'.join(site.getsitepackages()) + '\n')
        _run([sys.executable, '-m', 'pip', 'install', '--no-deps',
              '--no-index', '-q', '--target', self.site, self.wheel],
             cwd=self.root)
        self.package = osp.join(self.site, 'vit_backbones')
        self.configs = osp.join(self.package, '.mim', 'configs')
        self.data = osp.join(self.root, 'data')
        make_demo_data(self.data, seed=7, sizes=SIZES)

    def run(self, *args, timeout=600):
        return _run([self.python, *args], cwd=self.root, timeout=timeout)

    def script(self, code, timeout=600):
        return self.run('-c', textwrap.dedent(code), timeout=timeout)

    def options(self, task):
        """``--cfg-options`` for a short run of a demo config."""
        return short_run_options(task, self.data)


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    return Installed(tmp_path_factory.mktemp('client'))


def test_wheel_ships_the_model_zoo_configs_and_tools(installed):
    """A wheel install registers the models and finds configs and tools in
    ``vit_backbones/.mim``, as a clone does."""
    for name in ('configs/hat_net/hat-net-tiny_8xb128_in1k.py',
                 'configs/demo/hat-net-tiny_1xb32_shapes.py',
                 'tools/train.py', 'tools/test.py', 'model-index.yml'):
        path = osp.join(installed.package, '.mim', name)
        assert osp.isfile(path) and not osp.islink(path), name
    with open(osp.join(REPO_ROOT, 'configs/hat_net/metafile.yml')) as f, \
            open(osp.join(installed.configs, 'hat_net/metafile.yml')) as g:
        assert f.read() == g.read()
    out = installed.script(f"""
        import os.path as osp
        import vit_backbones
        assert vit_backbones.__file__.startswith({installed.site!r}), \\
            vit_backbones.__file__
        from mmpretrain import get_model, list_models
        print('models', sorted(
            m for m in list_models()
            if m.startswith(('hat-net', 'hvt', 'dhvt', 'vil'))))
        model = get_model('hat-net-tiny_8xb128_in1k')
        print('built', type(model.backbone).__name__)
        from mmpretrain.apis import ModelHub
        config = ModelHub.get('vil-tiny_3rdparty_in1k').config.filename
        assert config.startswith(osp.join({installed.package!r}, '.mim')), \\
            config
        """)
    assert 'built HATNet' in out
    mine = sorted(
        m for m in __import__('mmpretrain').list_models()
        if m.startswith(('hat-net', 'hvt', 'dhvt', 'vil')))
    assert mine and f'models {mine}' in out


def _has_distribution(name):
    try:
        importlib.metadata.distribution(name)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


#: onedl-mim 0.5.1 finds an installed package's folder as the first path of
#: its RECORD, which pip sorts: for a package whose module has its
#: distribution's name, that is ``<name>-<version>.dist-info``, so mim looks
#: for ``.mim/`` there. (Its ``mmpretrain`` sorts before
#: ``onedl_mmpretrain-...``, so its own packages are not hit.)
ONEDL_MIM_FINDS_DIST_INFO = pytest.mark.xfail(
    _has_distribution('onedl-mim'), strict=True,
    reason='onedl-mim 0.5.1 takes the dist-info folder for the package')


@ONEDL_MIM_FINDS_DIST_INFO
def test_mim_search_and_list(installed):
    out = installed.run('-m', 'mim', 'search', 'vit_backbones', '--model',
                        'hat-net')
    assert 'hat-net-tiny_3rdparty_in1k' in out
    out = installed.run('-m', 'mim', 'list')
    assert 'vit-backbones' in out.lower().replace('_', '-')


@pytest.mark.parametrize('toolbox,config,task,metric', [
    ('mmpretrain', 'demo/hat-net-tiny_1xb32_shapes.py', 'cls',
     'accuracy/top1'),
    # An untrained detector may keep no box: the COCO metric then logs an
    # empty result instead of coco/bbox_mAP, after evaluating.
    ('mmdet', 'demo/retinanet_vil-tiny_fpn_shapes.py', 'det',
     'Evaluating bbox'),
    ('mmseg', 'demo/fpn_dhvt-tiny-p16_1xb8_shapes-128x128.py', 'seg',
     'mIoU'),
])
def test_toolbox_scripts_train_and_test(installed, toolbox, config, task,
                                        metric, tmp_path):
    """The toolbox's own train.py and test.py (from its wheel's
    ``.mim/tools``) on an installed config: both read the config before
    they import anything of ours (on the onedl forks the ``mmseg::`` bases
    resolve only through the config's own import, see the dense bases)."""
    tools = _toolbox_tools(toolbox)
    config = osp.join(installed.configs, config)
    options = installed.options(task)
    out = installed.run(osp.join(tools, 'train.py'), config, '--work-dir',
                        str(tmp_path), '--cfg-options', *options)
    assert metric in out, out[-2000:]
    with open(tmp_path / 'last_checkpoint') as f:
        checkpoint = f.read().strip()
    out = installed.run(osp.join(tools, 'test.py'), config, checkpoint,
                        '--work-dir', str(tmp_path), '--cfg-options',
                        *options)
    assert metric in out, out[-2000:]


def _first_image(installed):
    folder = osp.join(installed.data, 'seg/img_dir/val')
    return osp.join(folder, sorted(os.listdir(folder))[0])


def test_det_and_seg_inferencers(installed):
    """``MMSegInferencer`` and ``DetInferencer`` build our models from
    installed configs; the segmentation one first, before anything imports
    vit_backbones (the config does)."""
    configs, image = installed.configs, _first_image(installed)
    out = installed.script(f"""
        import sys
        from mmseg.apis import MMSegInferencer
        assert 'vit_backbones' not in sys.modules
        seg = MMSegInferencer(
            {configs!r} + '/demo/fpn_hvt-s-1_1xb8_shapes-128x128.py',
            device='cpu')
        pred = seg({image!r}, return_datasamples=True)
        print('seg', tuple(pred.pred_sem_seg.data.shape))

        from mmdet.apis import DetInferencer
        det = DetInferencer(
            {configs!r} + '/demo/mask-rcnn_hat-net-tiny_fpn_shapes.py',
            device='cpu', show_progress=False)
        result = det({image!r}, return_datasamples=True)
        print('det', len(result['predictions']))
        """)
    assert 'seg (1, 128, 128)' in out
    assert 'det 1' in out


def test_classification_inferencers(installed):
    """mmpretrain's ``ImageClassificationInferencer`` and
    ``FeatureExtractor`` on installed configs. (In a process of their own:
    they build their pipelines in the current default scope, which the
    other toolboxes' inferencers change.)"""
    configs, image = installed.configs, _first_image(installed)
    out = installed.script(f"""
        from mmpretrain import FeatureExtractor, ImageClassificationInferencer
        cls = ImageClassificationInferencer(
            {configs!r} + '/demo/vil-tiny_1xb32_shapes.py', device='cpu')
        print('cls', len(cls({image!r})[0]['pred_scores']))
        features = FeatureExtractor(
            {configs!r} + '/demo/dhvt-tiny-p16_1xb32_shapes.py',
            device='cpu')({image!r}, stage='backbone')[0]
        print('features', [tuple(f.shape) for f in features])
        """)
    assert 'cls 4' in out
    assert 'features [' in out


#: The Grad-CAM target layer each network's README names, with the
#: vis_cam.py options it needs.
CAM_TARGETS = {
    'hat-net-tiny': ['--target-layers', 'backbone.stages.3'],
    'vil-tiny': ['--target-layers', 'backbone.stages.3'],
    'dhvt-tiny-p16': ['--vit-like', '--target-layers',
                      'backbone.layers.11.ln1'],
    'hvt-ti-1': ['--vit-like', '--target-layers', 'backbone.layers.0'],
}


def test_grad_cam(installed):
    """mmpretrain's ``vis_cam.py`` with the target layer each README names:
    it runs, writes the picture and the map is not flat (a target layer
    whose output does not reach the score gives a zero map)."""
    script = osp.join(_toolbox_tools('mmpretrain'), 'visualization',
                      'vis_cam.py')
    image = osp.join(installed.data, 'cls/val/circle',
                     sorted(os.listdir(osp.join(installed.data,
                                                'cls/val/circle')))[0])
    out = installed.script(f"""
        import importlib.util, os, sys
        import torch
        from mmengine.config import Config
        from mmpretrain.apis import get_model
        spec = importlib.util.spec_from_file_location('vis_cam', {script!r})
        vis_cam = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(vis_cam)
        show = vis_cam.show_cam_grad
        maps = {{}}

        def keep(cam, *args, **kwargs):
            maps['cam'] = cam
            show(cam, *args, **kwargs)

        vis_cam.show_cam_grad = keep
        for net, options in {CAM_TARGETS!r}.items():
            config = {installed.configs!r} + f'/demo/{{net}}_1xb32_shapes.py'
            torch.manual_seed(0)
            model = get_model(config)
            checkpoint = {installed.root!r} + f'/{{net}}.pth'
            torch.save(dict(state_dict=model.state_dict()), checkpoint)
            picture = {installed.root!r} + f'/cam_{{net}}.png'
            sys.argv = ['vis_cam.py', {image!r}, config, checkpoint,
                        '--save-path', picture, *options]
            vis_cam.main()
            cam = maps.pop('cam')
            assert os.path.getsize(picture) > 0
            print(net, cam.shape, float(cam.std()))
        """)
    for net in CAM_TARGETS:
        line = next(row for row in out.splitlines()
                    if row.startswith(net + ' '))
        assert '(1, 64, 64)' in line and float(line.split()[-1]) > 0.01, line


@ONEDL_MIM_FINDS_DIST_INFO
def test_mim_train(installed, tmp_path):
    """``mim train vit_backbones CONFIG``: mim finds the config by name in
    the installed ``.mim/configs`` and runs the package's own train.py."""
    out = installed.run(
        '-m', 'mim', 'train', 'vit_backbones', 'hvt-ti-1_1xb32_shapes.py',
        '--work-dir', str(tmp_path), '--cfg-options',
        *installed.options('cls'))
    assert 'accuracy/top1' in out, out[-2000:]
    assert osp.isfile(tmp_path / 'epoch_1.pth')
