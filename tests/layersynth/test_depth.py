"""Background depth sampling: near planes in the share the config says (and then parallax),
camera acceleration, shake and fast pans within their bounds, bit-exact regeneration."""

from dataclasses import replace

import numpy as np
import pytest
from layersynth.assets.sources import Assets
from layersynth.motion import homography
from layersynth.render.renderer import render
from layersynth.scene import depth
from layersynth.scene.config import SceneConfig
from layersynth.scene.params import SceneParams
from layersynth.scene.sampling import sample_scene

ASSETS = Assets.builtin()


def _scenes(cfg, n, seed=0):
    rng = np.random.default_rng(seed)
    return [sample_scene(rng, cfg, ASSETS) for _ in range(n)]


def _residual(flow, modal, occluder):
    """Mean |H(x) - (x + flow)| over background pixels of the least-squares (DLT) homography,
    over the frames (the figure of bench/parallax.py)."""
    out = []
    for t in range(flow.shape[0] - 1):
        ys, xs = np.nonzero((modal[t] == 0) & ~occluder[t])
        a = np.stack([xs, ys], 1).astype(float)
        b = a + flow[t, 0][ys, xs]
        c, s = a.mean(0), 1.0 / a.std()
        a, b = (a - c) * s, (b - c) * s
        one, zero = np.ones(len(a)), np.zeros(len(a))
        rows = np.concatenate([
            np.stack([a[:, 0], a[:, 1], one, zero, zero, zero, -b[:, 0] * a[:, 0],
                      -b[:, 0] * a[:, 1], -b[:, 0]], 1),
            np.stack([zero, zero, zero, a[:, 0], a[:, 1], one, -b[:, 1] * a[:, 0],
                      -b[:, 1] * a[:, 1], -b[:, 1]], 1)])
        h = np.linalg.svd(rows, full_matrices=False)[2][-1].reshape(3, 3)
        p = np.concatenate([a, one[:, None]], 1) @ h.T
        out.append(np.hypot(*(p[:, :2] / p[:, 2:] - b).T).mean() / s)
    return float(np.mean(out))


def test_scenes_have_near_planes_in_the_configured_share():
    for prob in (0.0, 0.5, 1.0):
        cfg = SceneConfig.preset("tiny", parallax_prob=prob)
        share = np.mean([bool(p.planes) for p in _scenes(cfg, 200)])
        assert abs(share - prob) < 0.1  # 3 binomial sigmas at 200 draws
        counts = [len(p.planes) for p in _scenes(replace(cfg, near_planes=(2, 3)), 40)]
        assert all(c in (0, 2, 3) for c in counts)


def test_near_planes_give_parallax_and_one_plane_gives_none():
    cfg = SceneConfig.preset("oclr", frames=6, objects=(1,), occluder_prob=0.0,
                             fast_pan_prob=1.0, photometric=False)
    with_planes = [_residual(*_arrays(p)) for p in _scenes(replace(cfg, parallax_prob=1.0), 6)]
    flat = [_residual(*_arrays(p)) for p in _scenes(replace(cfg, parallax_prob=0.0), 3)]
    assert max(flat) < 0.05
    assert np.mean(np.array(with_planes) > 0.3) >= 0.5


def _arrays(p):
    s = render(p, ASSETS)
    return s.flow_gt, s.modal, s.occluder


def test_camera_acceleration_fast_pans_and_shake_stay_within_their_bounds():
    cfg = SceneConfig.preset("tiny", fast_pan_prob=0.5, shake_prob=0.5)
    scenes = _scenes(cfg, 200)
    h = cfg.height
    accel = np.array([np.asarray(p.camera.coeffs)[:2, 2] for p in scenes])
    assert np.abs(accel).max() <= 0.5 * cfg.camera_accel * h and np.abs(accel).max() > 0
    speed = np.array([np.hypot(*np.asarray(p.camera.coeffs)[:2, 1]) for p in scenes])
    fast = speed > np.sqrt(2) * cfg.camera_speed * h
    assert 0.35 < fast.mean() < 0.65 and speed.max() <= cfg.fast_pan_speed[1] * h + 1e-9
    shaken = [p.camera.shake for p in scenes if p.camera.shake]
    assert 0.4 < len(shaken) / len(scenes) < 0.6
    rows = np.concatenate([np.asarray(s) for s in shaken])
    assert set(rows[:, 0]) == {0.0, 1.0, 2.0}
    assert np.abs(rows[rows[:, 0] < 2, 1]).max() <= cfg.shake_amplitude * h
    assert cfg.shake_freq[0] <= rows[:, 2].min() and rows[:, 2].max() <= cfg.shake_freq[1]


def test_shake_adds_its_sinusoids_to_the_trajectory():
    coeffs = np.zeros((8, 3))
    shake = ((0.0, 2.0, 0.5, 0.1), (2.0, 0.01, 1.0, 0.0))
    tau = np.array([-1.5, 0.0, 2.0])
    values = homography.components(coeffs, tau, shake)
    np.testing.assert_allclose(values[:, 0], 2.0 * np.sin(0.5 * tau + 0.1), atol=1e-15)
    np.testing.assert_allclose(values[:, 2], 0.01 * np.sin(tau), atol=1e-15)
    assert not values[:, [1, 3, 4, 5, 6, 7]].any()


def test_a_plane_nearer_by_p_moves_p_times_as_far_and_keeps_rotation_and_shake():
    p = sample_scene(np.random.default_rng(2), SceneConfig.preset("tiny", shake_prob=1.0),
                     ASSETS)
    near = depth.parallax_motion(p.camera, 2.5, (10.0, 20.0))
    cam, c = np.asarray(p.camera.coeffs), np.asarray(near.coeffs)
    np.testing.assert_allclose(c[:2, 1:], 2.5 * cam[:2, 1:])
    assert tuple(c[:2, 0]) == (10.0, 20.0) and np.array_equal(c[2], cam[2])
    assert near.shake == p.camera.shake


def test_occluders_move_on_a_plane_nearer_than_the_far_one():
    cfg = SceneConfig.preset("tiny", occluder_prob=1.0)
    for p in _scenes(cfg, 10):
        v_occ = np.abs(np.asarray(p.occluder.motion.coeffs)[:2, 1])
        v_cam = np.abs(np.asarray(p.camera.coeffs)[:2, 1])
        np.testing.assert_array_less(cfg.occluder_parallax[0] * v_cam - 1e-12, v_occ + 1e-12)


class _OneVideo:
    """A VideoSource stand-in: the sampler only asks for a window and its dict."""

    def __len__(self):
        return 1

    def sample(self, rng, count, out_hw):
        return _Window()


class _Window:
    def to_dict(self):
        return {"start": 0}


def test_a_background_video_stays_a_single_far_plane():
    cfg = SceneConfig.preset("tiny", parallax_prob=1.0, video_background_prob=0.5)
    assets = replace(ASSETS, videos=_OneVideo())
    scenes = [sample_scene(np.random.default_rng(i), cfg, assets) for i in range(40)]
    video = [p for p in scenes if p.background_video is not None]
    still = [p for p in scenes if p.background_video is None]
    assert video and still
    assert all(not p.planes for p in video) and all(p.planes for p in still)


@pytest.mark.parametrize("seed", [0, 7])
def test_regeneration_is_bit_exact_with_planes_and_shake(seed):
    cfg = SceneConfig.preset("tiny", parallax_prob=1.0, shake_prob=1.0, fast_pan_prob=0.5,
                             occluder_prob=1.0)
    a = sample_scene(np.random.default_rng(seed), cfg, ASSETS)
    b = sample_scene(np.random.default_rng(seed), cfg, ASSETS)
    assert a == b and SceneParams.from_dict(a.to_dict()) == a
    ra, rb = render(a, ASSETS), render(SceneParams.from_dict(a.to_dict()), ASSETS)
    for name, arr in ra.arrays().items():
        assert arr.tobytes() == rb.arrays()[name].tobytes(), name
