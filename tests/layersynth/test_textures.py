import numpy as np
from layersynth.motion import homography
from layersynth.render import kernels, mipmap, textures


def _old_bilinear(tex, aff, points):
    """The sampler before issue 14: level 0, bilinear, mirrored addressing."""
    h, w = tex.shape[:2]
    u = textures.mirror(points[..., 0] * aff[0, 0] + points[..., 1] * aff[0, 1] + aff[0, 2], w)
    v = textures.mirror(points[..., 0] * aff[1, 0] + points[..., 1] * aff[1, 1] + aff[1, 2], h)
    u0, v0 = np.minimum(u.astype(int), w - 2), np.minimum(v.astype(int), h - 2)
    fu, fv = (u - u0)[..., None], (v - v0)[..., None]
    t = tex.astype(float)
    top = t[v0, u0] * (1 - fu) + t[v0, u0 + 1] * fu
    return top * (1 - fv) + (t[v0 + 1, u0] * (1 - fu) + t[v0 + 1, u0 + 1] * fu) * fv


def _scaled_jacobian(shape, s):
    """(..., 2, 2) dc/dx of a plain zoom: s canonical pixels per image pixel."""
    return np.broadcast_to(s * np.eye(2), (*shape, 2, 2))


def test_mirror_folds_into_range_and_is_continuous():
    u = np.linspace(-30, 40, 7001)
    m = textures.mirror(u, 11)
    assert m.min() >= 0 and m.max() <= 10
    assert np.abs(np.diff(m)).max() <= np.diff(u).max() + 1e-9
    np.testing.assert_allclose(textures.mirror([-3.0, 12.0, 5.5], 11), [3.0, 8.0, 5.5])


def test_sampling_at_texel_centres_returns_the_texels_and_wraps_outside():
    tex = np.random.default_rng(0).integers(0, 256, (9, 12, 3), dtype=np.uint8)
    aff = textures.texture_affine((2.0, 3.0), 1.0, (False, False))
    pts = np.array([[0.0, 0.0], [4.0, 5.0], [-4.0, -5.0], [10.0, 6.0]])
    # texels (u, v) = (2, 3), (6, 8), (-2, -2) -> (10, 7), (12, 9) -> (0, 0)
    got = textures.sample(mipmap.build(tex), aff, pts)
    np.testing.assert_allclose(got, tex[[3, 8, 7, 0], [2, 6, 10, 0]])


def test_a_magnified_texture_is_sampled_bilinearly_as_before_the_issue():
    tex = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    mip = mipmap.build(tex)
    aff = textures.texture_affine((20.0, 24.0), 0.9, (True, False))
    pts = np.random.default_rng(2).uniform(-15.0, 15.0, (500, 2))  # inside the texture
    jac = _scaled_jacobian((500,), 1.0)  # 0.9 texels a pixel: magnified
    assert not textures.level_of_detail(aff, jac).any()
    np.testing.assert_array_equal(textures.sample(mip, aff, pts, jac), _old_bilinear(tex, aff, pts))


def test_a_minified_stripe_texture_renders_to_its_mean_colour():
    """One-texel black and white stripes seen at 3.3 texels a pixel: the filtered lookup gives
    grey within a few levels; plain bilinear lookup (level 0) aliases to black and white."""
    stripes = np.zeros((64, 64, 3), np.uint8)
    stripes[:, 1::2] = 255
    mip = mipmap.build(stripes)
    aff = textures.texture_affine((0.0, 0.0), 3.3, (False, False))
    pts = np.stack(np.meshgrid(np.arange(40.0), np.arange(30.0)), -1) + 0.17
    filtered = textures.sample(mip, aff, pts, _scaled_jacobian(pts.shape[:2], 1.0))
    assert np.abs(filtered - 127.5).max() <= 3.0
    assert np.abs(textures.sample(mip, aff, pts) - 127.5).max() > 60.0


def test_level_of_detail_is_log2_of_the_longer_footprint_side():
    aff = textures.texture_affine((0.0, 0.0), 2.0, (True, False))
    jac = np.array([[[2.0, 0.0], [0.0, 0.5]], [[0.25, 0.0], [0.0, 0.25]]])  # (2, 2, 2)
    np.testing.assert_allclose(textures.level_of_detail(aff, jac), [2.0 + kernels.LOD_BIAS, 0.0])


def test_homography_jacobian_matches_finite_differences():
    hinv = homography.inverse(np.array([[1.1, 0.2, 5.0], [-0.1, 0.9, 3.0], [2e-3, -1e-3, 1.0]]))
    px = np.array([[3.0, 4.0], [40.0, 20.0]])
    jac = textures.homography_jacobian(hinv, px)
    for k, d in enumerate(np.eye(2) * 1e-5):
        fd = (homography.apply(hinv, px + d) - homography.apply(hinv, px - d)) / 2e-5
        np.testing.assert_allclose(jac[..., k], fd, rtol=1e-6)


def test_a_still_shading_reads_the_cached_pyramid_and_a_clip_one_mirrored_frame():
    tex = np.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    aff = textures.texture_affine((0.0, 0.0), 1.0, (False, False))
    gains, bias = np.ones((4, 3)), np.zeros(3)
    a, b = textures.Shading(tex, aff, gains, bias), textures.Shading(tex, aff, gains, bias)
    assert a.mip is b.mip and a.mip.wrap and len(a.mip.levels) > 1
    clip = np.random.default_rng(4).integers(0, 256, (4, 16, 20, 3), dtype=np.uint8)
    data, levels, wrap, *_ = textures.Shading(clip, aff, gains, bias).at(2)
    assert not wrap and levels.tolist() == [[0, 16, 20]]
    np.testing.assert_array_equal(data, clip[2].reshape(-1))


def test_flip_mirrors_the_texture_around_the_offset():
    aff = textures.texture_affine((5.0, 6.0), 2.0, (True, False))
    np.testing.assert_allclose(aff @ [1.0, 1.0, 1.0], [3.0, 8.0])


def test_gains_are_constant_without_jitter_and_vary_with_it():
    e = np.arange(10)
    flat = textures.frame_gains((1.0, 0.9, 0.8), (0, 0, 0), 0.3, (0, 1, 2), e)
    np.testing.assert_allclose(flat, np.broadcast_to([1.0, 0.9, 0.8], (10, 3)))
    jittered = textures.frame_gains((1.0, 0.9, 0.8), (0.1, 0.1, 0.1), 0.3, (0, 1, 2), e)
    assert np.ptp(jittered[:, 0]) > 0.05 and np.all(np.abs(jittered / flat - 1) <= 0.1 + 1e-12)
