"""Install ``vit_backbones``: HVT, DHVT, ViL and HAT-Net backbones for
mmpretrain, mmdet and mmseg.

The package runs on two stacks with the same import names: the original
OpenMMLab packages (extra ``mmlab``) and their maintained ``onedl-*`` forks
(extra ``onedl``). The mm* distributions are extras, not
``install_requires``: a requirement names a distribution, and ``mmengine``
in ``install_requires`` would make pip install the original packages over
the forks (same import names, other distribution names). So::

    pip install "vit_backbones[mmlab]"   # or [onedl]; [det], [seg] as well

``tools/install.sh`` (``make test``/``make demo``, ``STACK=onedl``) installs
everything, mmcv included: mmcv has no usable wheel on PyPI for recent torch
and must be built with its ops without build isolation. ``import
vit_backbones`` says which extra to install when the stack is missing.
"""
import os
import os.path as osp
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

# What mim and mmengine look for in an installed OpenMMLab package's .mim/
# (mmpretrain's setup.py ships the same): the configs, the tools and the
# model index. In the repository, vit_backbones/.mim/ holds links to them.
MIM_FILES = ('configs', 'tools', 'model-index.yml')


class BuildWithMim(build_py):
    """``build_py`` that writes ``vit_backbones/.mim/`` into the build as
    copies of the repository's configs, tools and model index (the links
    of the source tree would not survive a wheel)."""

    def run(self):
        super().run()
        if self.editable_mode:  # the source tree's links serve
            return
        target = osp.join(self.build_lib, 'vit_backbones', '.mim')
        shutil.rmtree(target, ignore_errors=True)
        os.makedirs(target)
        ignore = shutil.ignore_patterns('__pycache__', '*.pyc')
        for name in MIM_FILES:
            source = osp.join('vit_backbones', '.mim', name)
            if not osp.exists(source):
                raise FileNotFoundError(
                    f'{source} is missing: the wheel would have no {name}')
            if osp.isdir(source):
                shutil.copytree(source, osp.join(target, name),
                                ignore=ignore)
            else:
                shutil.copyfile(source, osp.join(target, name))


def get_version():
    scope = {}
    with open('vit_backbones/version.py') as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='vit_backbones',
    version=get_version(),
    description='HVT, DHVT, ViL and HAT-Net backbones for OpenMMLab '
    '(mmpretrain, mmdet, mmseg)',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['vit_backbones', 'vit_backbones.*']),
    python_requires='>=3.8',
    install_requires=[
        'torch>=2.0',
        'torchvision',
        # Weights files that cannot carry code (vit_backbones.checkpoint).
        'safetensors',
        # mmengine needs pkg_resources for `mmdet::`-style bases.
        'setuptools<82',
    ],
    extras_require={
        # The original OpenMMLab stack (mmcv 2.1.0 with ops: tools/install.sh).
        'mmlab': ['mmengine==0.10.7', 'mmpretrain==1.2.0'],
        'det': ['mmdet==3.3.0', 'pycocotools'],
        'seg': ['mmsegmentation==1.2.2', 'ftfy', 'regex'],
        # The maintained forks (onedl-mmcv 2.3.6 with ops: tools/install.sh).
        'onedl': [
            'onedl-mmengine==0.10.12', 'onedl-mmpretrain==1.3.6',
            'onedl-mmdetection==3.5.1', 'onedl-mmsegmentation==1.4.2',
            'pycocotools', 'ftfy', 'regex'
        ],
        # onnx/onnxscript/onnxruntime: the export tests and
        # tools/deployment/pytorch2onnx.py (the dynamo-based ONNX exporter
        # needs onnxscript).
        'deploy': ['onnx', 'onnxscript', 'onnxruntime'],
        # grad-cam: mmpretrain's tools/visualization/vis_cam.py, which
        # passes `use_cuda`, an argument grad-cam 1.5 removed.
        'cam': ['grad-cam>=1.4.8,<1.5'],
        # mim (openmim, or onedl-mim on the forks) is not listed: its
        # `opendatalab` requirement pins setuptools 60 and requests 2.28,
        # below what torch and mmengine need; tools/install.sh installs it
        # without that requirement (used only by `mim download --dataset`).
        'tests': [
            'pytest', 'pytest-xdist', 'psutil', 'matplotlib', 'onnx',
            'onnxscript', 'onnxruntime', 'grad-cam>=1.4.8,<1.5'
        ],
    },
    license='Apache-2.0',
    cmdclass={'build_py': BuildWithMim},
    zip_safe=False,
)
