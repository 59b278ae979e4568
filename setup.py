"""Install ``vit_backbones``: HVT, DHVT, ViL and HAT-Net backbones for
mmpretrain, mmdet and mmseg.

The mm* stack is pinned to the versions this package is tested with. mmcv
(with its compiled ops) is not listed: it has no wheel on PyPI and must be
built without build isolation, which ``tools/install.sh`` does.
"""
from setuptools import find_packages, setup


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
        'mmengine==0.10.7',
        'mmpretrain==1.2.0',
        # mmengine 0.10.7 needs pkg_resources for `mmdet::`-style bases.
        'setuptools<82',
    ],
    extras_require={
        'det': ['mmdet==3.3.0', 'pycocotools'],
        'seg': ['mmsegmentation==1.2.2', 'ftfy', 'regex'],
        'tests': ['pytest', 'pytest-xdist', 'psutil'],
    },
    license='Apache-2.0',
    zip_safe=False,
)
