"""Near background planes (parallax): every background pixel takes the exact flow of the plane
visible at its centre, frames warp into each other by it, and the background flow is no longer one
homography. Smooth textures, no colour jitter; camera shake and acceleration on."""

import numpy as np
import pytest
from flowwarp import bilinear, stays_on_layer
from layersynth.assets.sources import Assets
from layersynth.motion import homography
from layersynth.render import exact_flow, planes
from layersynth.render.renderer import render
from layersynth.scene.config import SceneConfig
from layersynth.scene.sampling import sample_scene

SMOOTH = Assets.builtin(smooth=True)
CFG = SceneConfig.preset("tiny", objects=(1,), photometric=False, occluder_prob=0.5,
                         parallax_prob=1.0, near_planes=(2, 2), shake_prob=1.0)


def _plane_index(p, t):
    """(H, W) int: the near plane (0 nearest) whose mask covers each pixel's centre, -1 for the
    far plane: the oracle of the plane visible at a background pixel, in numpy."""
    xs, ys = np.meshgrid(np.arange(p.width, dtype=float), np.arange(p.height, dtype=float))
    x = np.stack([xs.ravel(), ys.ravel()], 1)
    index = np.full(len(x), -1)
    for k in reversed(range(len(p.planes))):  # nearest last: it wins
        layer = planes.plan_plane(p.planes[k], SMOOTH.background_source.get(0), p)
        c = layer.fmap.inverse(t + 1, x)
        index[layer.mask.covers(c)] = k
    return index.reshape(p.height, p.width)


def _maps(p):
    return [exact_flow.camera_map(pl.motion, p) for pl in p.planes] + [
        exact_flow.camera_map(p.camera, p)]


@pytest.fixture(scope="module", params=[0, 1, 2])
def scene(request):
    p = sample_scene(np.random.default_rng(request.param), CFG, SMOOTH)
    return p, render(p, SMOOTH)


def test_the_scenes_have_two_near_planes_and_a_shaking_accelerating_camera(scene):
    p, _ = scene
    assert len(p.planes) == 2 and p.camera.shake
    assert np.abs(np.asarray(p.camera.coeffs)[:2, 2]).max() > 0  # tx, ty accelerate
    assert p.planes[0].parallax >= p.planes[1].parallax > 1.0  # nearest first


def test_each_background_pixel_flows_with_the_plane_visible_at_its_centre(scene):
    p, s = scene
    maps = _maps(p)
    seen = set()
    for t in (0, p.frames // 2, p.frames - 1):
        index = _plane_index(p, t)
        for k in range(-1, len(p.planes)):
            ys, xs = np.nonzero((s.modal[t] == 0) & ~s.occluder[t] & (index == k))
            if not len(xs):
                continue
            seen.add(k)
            x = np.stack([xs, ys], 1).astype(float)
            fmap = maps[k]
            c = homography.apply(fmap.hom_inv[t + 1], x)
            for gap, e in ((0, t + 2), (1, t)):
                want = homography.apply(fmap.hom[e], c) - x
                np.testing.assert_allclose(s.flow_gt[t, gap][ys, xs], want, atol=1e-4)
    assert -1 in seen and len(seen) >= 2  # the far plane and at least one near plane


def _stays_visible(s, ids, t):
    """Pixels of frame t whose +1 flow lands where all four neighbours at t + 1 show the same
    layer (ids (T, H, W): object, occluder or background plane); returns them and the target."""
    return stays_on_layer(s.flow_gt, ids, t)


def _ids(p, s):
    background = (s.modal == 0) & ~s.occluder
    plane = np.stack([_plane_index(p, t) for t in range(p.frames)])
    return s.modal.astype(np.int32) + 1000 * s.occluder + background * 100 * (plane + 2)



def test_warping_the_next_frame_with_the_flow_reproduces_the_frame(scene):
    p, s = scene
    ids = _ids(p, s)
    errors = []
    for t in range(p.frames - 1):
        keep, x2, y2 = _stays_visible(s, ids, t)
        warped = bilinear(s.rgb[t + 1].astype(np.float64), x2, y2)
        errors.append(np.abs(warped - s.rgb[t][keep]).ravel())
    errors = np.concatenate(errors)
    assert errors.size > 0.6 * 3 * s.rgb[:-1, ..., 0].size
    assert errors.mean() < 2.0


def test_forward_and_backward_flows_are_inverse_across_the_planes(scene):
    p, s = scene
    ids = _ids(p, s)
    worst = 0.0
    for t in range(p.frames - 1):
        keep, x2, y2 = _stays_visible(s, ids, t)
        back = bilinear(s.flow_gt[t + 1, 1].astype(np.float64), x2, y2)
        worst = max(worst, float(np.hypot(*(s.flow_gt[t, 0][keep] + back).T).max()))
    assert worst < 0.05


def test_plane_boxes_hold_every_pixel_a_plane_covers(scene):
    p, _ = scene
    for k, plane in enumerate(p.planes):
        layer = planes.plan_plane(plane, SMOOTH.background_source.get(0), p)
        for t in range(p.frames):
            y0, y1, x0, x1 = layer.boxes[t + 1]
            ys, xs = np.nonzero(_plane_index(p, t) == k)  # covered, visible or not
            covered_here = [(y, x) for y, x in zip(ys, xs, strict=True)
                            if _covers(layer, t, x, y)]
            for y, x in covered_here:
                assert y0 <= y < y1 and x0 <= x < x1


def _covers(layer, t, x, y):
    c = layer.fmap.inverse(t + 1, np.array([[x, y]], float))[0]
    return bool(layer.mask.covers(c))


def test_near_planes_leave_modal_and_occluder_masks_as_without_them(scene):
    p, s = scene
    flat = render(p.__class__(**{**p.__dict__, "planes": ()}), SMOOTH)
    assert np.array_equal(s.modal, flat.modal) and np.array_equal(s.occluder, flat.occluder)
    assert np.array_equal(s.amodal, flat.amodal)
    assert not np.array_equal(s.flow_gt, flat.flow_gt)  # yet the background flow changed
