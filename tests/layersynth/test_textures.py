import numpy as np
from layersynth.render import textures


def test_mirror_folds_into_range_and_is_continuous():
    u = np.linspace(-30, 40, 7001)
    m = textures.mirror(u, 11)
    assert m.min() >= 0 and m.max() <= 10
    assert np.abs(np.diff(m)).max() <= np.diff(u).max() + 1e-9
    np.testing.assert_allclose(textures.mirror([-3.0, 12.0, 5.5], 11), [3.0, 8.0, 5.5])


def test_sampling_at_texel_centres_returns_the_texels():
    tex = np.random.default_rng(0).integers(0, 256, (9, 12, 3), dtype=np.uint8)
    aff = textures.texture_affine((2.0, 3.0), 1.0, (False, False))
    pts = np.array([[0.0, 0.0], [4.0, 5.0], [-2.0, -3.0]])  # texels (2, 3), (6, 8), (0, 0)
    np.testing.assert_allclose(textures.sample(tex, aff, pts), tex[[3, 8, 0], [2, 6, 0]])


def test_flip_mirrors_the_texture_around_the_offset():
    aff = textures.texture_affine((5.0, 6.0), 2.0, (True, False))
    np.testing.assert_allclose(aff @ [1.0, 1.0, 1.0], [3.0, 8.0])


def test_gains_are_constant_without_jitter_and_vary_with_it():
    e = np.arange(10)
    flat = textures.frame_gains((1.0, 0.9, 0.8), (0, 0, 0), 0.3, (0, 1, 2), e)
    np.testing.assert_allclose(flat, np.broadcast_to([1.0, 0.9, 0.8], (10, 3)))
    jittered = textures.frame_gains((1.0, 0.9, 0.8), (0.1, 0.1, 0.1), 0.3, (0, 1, 2), e)
    assert np.ptp(jittered[:, 0]) > 0.05 and np.all(np.abs(jittered / flat - 1) <= 0.1 + 1e-12)
