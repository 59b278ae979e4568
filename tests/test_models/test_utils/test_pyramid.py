"""The simple feature pyramid (vit_backbones.models.utils.pyramid)."""
import pytest
import torch

from vit_backbones.models.utils import SimpleFeaturePyramid


def test_simple_feature_pyramid():
    pyramid = SimpleFeaturePyramid(8, scales=(4, 2, 1, 0.5))
    maps = [torch.randn(1, 8, 6, 10) for _ in range(4)]
    outs = pyramid(maps)
    assert [tuple(o.shape[-2:]) for o in outs] == [(24, 40), (12, 20),
                                                   (6, 10), (3, 5)]
    with pytest.raises(ValueError, match='expects 4 maps'):
        pyramid(maps[:3])
    with pytest.raises(ValueError, match='Unsupported pyramid scale'):
        SimpleFeaturePyramid(8, scales=(3, ))
    ln = SimpleFeaturePyramid(8, scales=(4, ), norm_cfg=dict(type='LN2d'))
    assert ln([maps[0]])[0].shape == (1, 8, 24, 40)


def test_pyramid_output_size_rule():
    """Odd grids: ceil-mode pools keep the border, up-sampled levels are
    cropped to ceil(H / stride) of the image."""
    pyramid = SimpleFeaturePyramid(8, scales=(4, 2, 1, 0.5, 0.25))
    maps = [torch.randn(1, 8, 7, 9) for _ in range(5)]  # a 97x131 image
    outs = pyramid(maps, image_size=(97, 131), in_strides=[16] * 5)
    assert [tuple(o.shape[-2:]) for o in outs] == [
        (25, 33), (13, 17), (7, 9), (4, 5), (2, 3)]
    full = pyramid(maps)
    torch.testing.assert_close(outs[0], full[0][..., :25, :33])
    torch.testing.assert_close(
        outs[3], torch.nn.functional.max_pool2d(
            torch.nn.functional.pad(maps[3], (0, 1, 0, 1), 'replicate'), 2))
    with pytest.raises(ValueError, match='one input stride per map'):
        pyramid(maps, image_size=(97, 131))
