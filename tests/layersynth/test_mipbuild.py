import numpy as np
import pytest
from layersynth.assets.sources import Assets
from layersynth.render import mipmap


@pytest.mark.parametrize("h,w", [(8, 8), (17, 40), (63, 64), (64, 200), (256, 256), (300, 129)])
def test_the_cached_pyramid_has_the_bytes_of_the_numpy_definition(h, w):
    tex = np.random.default_rng(h * w).integers(0, 256, (h, w, 3), dtype=np.uint8)
    tex[: h // 2, : w // 3] = (0, 255, 128)  # saturated texels: the fold's clipping and rounding
    ref = mipmap.build(mipmap.soften(mipmap.seamless(tex)))
    got = mipmap.cached(tex)
    np.testing.assert_array_equal(got.levels, ref.levels)
    np.testing.assert_array_equal(got.data, ref.data)
    assert got.wrap


def test_the_cached_pyramid_of_every_builtin_texture_has_the_bytes_of_the_numpy_definition():
    assets = Assets.builtin()
    for source in (assets.textures, assets.background_source):
        for i in range(len(source)):
            tex = source.get(i)
            ref = mipmap.build(mipmap.soften(mipmap.seamless(tex)))
            assert np.array_equal(mipmap.cached(tex).data, ref.data), i


def test_the_cached_pyramid_leaves_its_texture_as_it_was():
    tex = np.random.default_rng(1).integers(0, 256, (80, 96, 3), dtype=np.uint8)
    before = tex.copy()
    mipmap.cached(tex)
    np.testing.assert_array_equal(tex, before)


def test_a_texture_too_small_to_tile_is_refused_by_the_cache_too():
    with pytest.raises(ValueError, match="8 x 8"):
        mipmap.cached(np.zeros((7, 16, 3), np.uint8))
