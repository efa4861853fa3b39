"""Ground-truth flow checks on scenes with 3 moving, deforming objects and a moving camera."""

import numpy as np
import pytest
from layersynth.assets.sources import Assets
from layersynth.motion import homography, tps
from layersynth.render import exact_flow
from layersynth.render.renderer import render
from layersynth.scene.config import SceneConfig
from layersynth.scene.sampling import sample_scene
from scipy.ndimage import binary_erosion

SMOOTH = Assets.builtin(smooth=True)
CFG = SceneConfig.preset("tiny", objects=(3,), photometric=False, occluder_prob=0.5)


def _bilinear(img, x, y):
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    if img.ndim == 3:
        fx, fy = fx[:, None], fy[:, None]
    top = img[y0, x0] * (1 - fx) + img[y0, x0 + 1] * fx
    bot = img[y0 + 1, x0] * (1 - fx) + img[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bot * fy


def _stays_visible(s, t):
    """Pixels of frame t whose +1 flow lands where all four neighbours at t + 1 show the same
    layer (objects by modal label, occluder and background apart); returns them and the target."""
    h, w = s.modal.shape[1:]
    ids = s.modal.astype(np.int32) + 1000 * s.occluder
    yy, xx = np.mgrid[0:h, 0:w]
    x2, y2 = xx + s.flow_gt[t, 0, ..., 0], yy + s.flow_gt[t, 0, ..., 1]
    keep = (x2 >= 0) & (y2 >= 0) & (x2 < w - 1) & (y2 < h - 1)
    x0 = np.clip(np.floor(x2).astype(int), 0, w - 2)
    y0 = np.clip(np.floor(y2).astype(int), 0, h - 2)
    for dy in (0, 1):
        for dx in (0, 1):
            keep &= ids[t + 1][y0 + dy, x0 + dx] == ids[t]
    return keep, x2[keep].astype(np.float64), y2[keep].astype(np.float64)


@pytest.fixture(scope="module", params=[0, 1])
def scene(request):
    p = sample_scene(np.random.default_rng(request.param), CFG, SMOOTH)
    return p, render(p, SMOOTH)


def test_the_scenes_move_and_deform(scene):
    p, s = scene
    assert len(p.objects) == 3
    assert all(np.abs(np.asarray(o.deformation.amplitude)).max() > 0.5 for o in p.objects)
    speed = np.hypot(*np.moveaxis(s.flow_gt[:, 0], -1, 0))
    assert speed.mean() > 0.2
    background = s.modal == 0
    assert np.ptp(s.flow_gt[:, 0][background], axis=0).max() > 0.05  # the camera moves, not flat
    for k in range(3):
        assert speed[s.modal == k + 1].mean() > 0.1


def test_warping_the_next_frame_with_the_flow_reproduces_the_frame(scene):
    _, s = scene
    errors = []
    for t in range(s.rgb.shape[0] - 1):
        keep, x2, y2 = _stays_visible(s, t)
        warped = _bilinear(s.rgb[t + 1].astype(np.float64), x2, y2)
        errors.append(np.abs(warped - s.rgb[t][keep]).ravel())
    errors = np.concatenate(errors)
    assert errors.size > 0.8 * 3 * s.rgb[:-1, ..., 0].size
    assert errors.mean() < 2.0


def test_forward_and_backward_flows_are_inverse(scene):
    _, s = scene
    worst = 0.0
    for t in range(s.rgb.shape[0] - 1):
        keep, x2, y2 = _stays_visible(s, t)
        back = _bilinear(s.flow_gt[t + 1, 1].astype(np.float64), x2, y2)
        worst = max(worst, float(np.hypot(*(s.flow_gt[t, 0][keep] + back).T).max()))
    assert worst < 0.05


def test_object_flow_equals_the_forward_map_of_the_inverted_canonical_point(scene):
    p, s = scene
    t = 3
    for k, layer in enumerate(p.objects):
        fmap = exact_flow.object_map(layer, p)
        ys, xs = np.nonzero(s.modal[t] == k + 1)
        q = homography.apply(fmap.hom_inv[t + 1], np.stack([xs, ys], 1).astype(float))
        c = tps.invert(fmap.coefs[t + 1], fmap.points, q, tol=1e-10)
        for gap, e in ((0, t + 2), (1, t)):
            x = homography.apply(fmap.hom[e], tps.evaluate(fmap.coefs[e], fmap.points, c))
            want = x - np.stack([xs, ys], 1)
            np.testing.assert_allclose(s.flow_gt[t, gap][ys, xs], want, atol=2e-3)


def test_background_flow_is_the_camera_homography_flow(scene):
    p, s = scene
    hom = homography.matrices(np.asarray(p.camera.coeffs), p.taus)
    t = 2
    ys, xs = np.nonzero(s.modal[t] == 0)
    x = np.stack([xs, ys], 1).astype(float)
    c = homography.apply(homography.inverse(hom[t + 1]), x)
    for gap, e in ((0, t + 2), (1, t)):
        want = homography.apply(hom[e], c) - x
        np.testing.assert_allclose(s.flow_gt[t, gap][ys, xs], want, atol=1e-4)


def test_occluders_move_exactly_with_the_background():
    cfg = SceneConfig.preset("tiny", objects=(1,), occluder_prob=1.0, photometric=False)
    p = sample_scene(np.random.default_rng(3), cfg, SMOOTH)
    s = render(p, SMOOTH)
    cam = homography.matrices(np.asarray(p.camera.coeffs), p.taus)
    for t in range(p.frames - 1):
        ys, xs = np.nonzero(s.occluder[t])
        x = np.stack([xs, ys], 1).astype(float)
        moved = homography.apply(cam[t + 2], homography.apply(homography.inverse(cam[t + 1]), x))
        np.testing.assert_allclose(x + s.flow_gt[t, 0][ys, xs], moved, atol=1e-4)
        core = binary_erosion(s.occluder[t], iterations=2)[ys, xs]  # away from the jagged edge
        col, row = np.round(moved[core]).astype(int).T
        inside = (row >= 0) & (row < p.height) & (col >= 0) & (col < p.width)
        assert s.occluder[t + 1][row[inside], col[inside]].all()
