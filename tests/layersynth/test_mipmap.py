import numpy as np
import pytest
from layersynth.assets.sources import Assets
from layersynth.render import mipmap

ASSETS = Assets.builtin()


def _jumps(img, axis):
    """(inside, across): the mean |difference| between neighbouring lines of texels along `axis`
    for every pair of lines inside the image, and for its last and first lines (its wrap)."""
    t = np.moveaxis(img.astype(float), axis, 0)
    inside = np.abs(np.diff(t, axis=0)).mean(axis=(1, 2))
    return inside, np.abs(t[0] - t[-1]).mean()


@pytest.mark.parametrize("source,index", [("textures", 0), ("textures", 77), ("textures", -1),
                                          ("backgrounds", 5), ("backgrounds", -2)])
def test_a_seamless_texture_is_as_continuous_across_its_wrap_as_inside(source, index):
    tex = getattr(ASSETS, source).get(index % len(getattr(ASSETS, source)))
    tiled = mipmap.seamless(tex)
    for axis in (0, 1):
        inside, across = _jumps(tiled, axis)
        assert across <= np.percentile(inside, 95), (axis, np.median(inside), across)


def test_without_the_seamless_fold_every_photograph_shows_a_seam():
    for i in range(len(ASSETS.textures) - 7, len(ASSETS.textures)):  # the photographs' halves
        inside, across = _jumps(ASSETS.textures.get(i), 1)
        assert across > np.percentile(inside, 95), i


def test_seamless_keeps_the_inside_and_the_contrast_of_the_band():
    tex = ASSETS.textures.get(10)
    tiled = mipmap.seamless(tex)
    h, w = tiled.shape[:2]
    assert h % mipmap.ALIGN == 0 and w % mipmap.ALIGN == 0 and 0.8 * 256 <= min(h, w) < 256
    b = 256 - w
    np.testing.assert_array_equal(tiled[b:, b:], tex[b:h, b:w])
    band = tiled[h // 2, : b // 2 + 1].astype(float)  # the middle of the fade along x
    assert band.std() >= 0.6 * tex[h // 2, :w].astype(float).std()
    assert tiled.dtype == np.uint8 and tiled.flags.c_contiguous


def test_seamless_refuses_a_texture_too_small_to_fold():
    with pytest.raises(ValueError, match="8 x 8"):
        mipmap.seamless(np.zeros((7, 16, 3), np.uint8))


def test_each_level_is_the_rounded_2x2_mean_of_the_one_below():
    tex = np.random.default_rng(0).integers(0, 256, (96, 64, 3), dtype=np.uint8)
    mip = mipmap.build(tex)
    assert mip.levels[:, 1:].tolist() == [[96, 64], [48, 32], [24, 16], [12, 8]]  # 6 x 4 < 8
    np.testing.assert_array_equal(mip.level(0), tex)
    for lvl in range(1, len(mip.levels)):
        q = mip.level(lvl - 1).astype(int)
        want = (q[0::2, 0::2] + q[0::2, 1::2] + q[1::2, 0::2] + q[1::2, 1::2] + 2) // 4
        np.testing.assert_array_equal(mip.level(lvl), want)
    assert not mip.data.flags.writeable


def test_the_cache_builds_a_texture_once_and_not_for_an_equal_copy():
    tex = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    first = mipmap.cached(tex)
    assert mipmap.cached(tex) is first
    copy = tex.copy()
    again = mipmap.cached(copy)
    assert again is not first
    np.testing.assert_array_equal(again.data, first.data)
    key = id(copy)
    del copy
    assert key not in mipmap._cache  # a texture that is gone leaves the cache


def test_soften_keeps_flat_colours_and_the_mean_and_removes_one_texel_stripes():
    flat = np.full((16, 16, 3), 77, np.uint8)
    np.testing.assert_array_equal(mipmap.soften(flat), flat)
    stripes = np.zeros((16, 16, 3), np.uint8)
    stripes[:, 1::2] = 200
    np.testing.assert_array_equal(mipmap.soften(stripes), np.full((16, 16, 3), 100, np.uint8))
    tex = ASSETS.textures.get(3)
    assert abs(mipmap.soften(tex).mean() - tex.mean()) < 0.5


def test_the_renderer_reads_the_softened_seamless_texture_at_level_0():
    tex = ASSETS.textures.get(4)
    np.testing.assert_array_equal(mipmap.cached(tex).level(0),
                                  mipmap.soften(mipmap.seamless(tex)))
