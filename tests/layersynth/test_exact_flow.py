"""Exact flow from forward maps: the maps themselves, and the flow of rendered scenes with 3
moving, deforming objects and a moving camera."""

from dataclasses import replace

import numpy as np
import pytest
from flowwarp import bilinear, stays_on_layer
from hypothesis import given, settings
from hypothesis import strategies as st
from layersynth.assets.sources import Assets
from layersynth.motion import homography, tps
from layersynth.render import exact_flow
from layersynth.render import renderer as render_mod
from layersynth.render.renderer import render
from layersynth.scene.config import SceneConfig
from layersynth.scene.sampling import sample_scene

SMOOTH = Assets.builtin(smooth=True)
# Single-map objects (polygons, silhouettes) on one far plane; articulated ones:
# test_articulated.py; near planes and shake: test_planes.py.
CFG = SceneConfig.preset("tiny", objects=(3,), photometric=False, occluder_prob=0.5,
                         articulated_prob=0.0, parallax_prob=0.0)
# Every object paused or crossing the border, and one wholly hidden: the events' exact flow.
EVENTS = SceneConfig.preset("tiny", frames=12, objects=(3,), photometric=False,
                            static_spell_prob=0.5, enter_exit_prob=0.5, full_occlusion_prob=1.0,
                            articulated_prob=0.0, parallax_prob=0.0)



def _stays_visible(s, t):
    """Pixels of frame t whose +1 flow lands where all four neighbours at t + 1 show the same
    layer (objects by modal label, occluder and background apart); returns them and the target."""
    return stays_on_layer(s.flow_gt, s.modal.astype(np.int32) + 1000 * s.occluder, t)


@pytest.fixture(scope="module", params=[(0, CFG), (1, CFG), (0, EVENTS), (2, EVENTS)],
                ids=["plain-0", "plain-1", "events-0", "events-2"])
def scene(request):
    seed, cfg = request.param
    p = sample_scene(np.random.default_rng(seed), cfg, SMOOTH)
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
        if p.objects[k].spell is None and (s.modal == k + 1).sum() > 50:
            assert speed[s.modal == k + 1].mean() > 0.1


def test_warping_the_next_frame_with_the_flow_reproduces_the_frame(scene):
    _, s = scene
    errors = []
    for t in range(s.rgb.shape[0] - 1):
        keep, x2, y2 = _stays_visible(s, t)
        warped = bilinear(s.rgb[t + 1].astype(np.float64), x2, y2)
        errors.append(np.abs(warped - s.rgb[t][keep]).ravel())
    errors = np.concatenate(errors)
    assert errors.size > 0.8 * 3 * s.rgb[:-1, ..., 0].size
    assert errors.mean() < 2.0


def test_forward_and_backward_flows_are_inverse(scene):
    _, s = scene
    worst = 0.0
    for t in range(s.rgb.shape[0] - 1):
        keep, x2, y2 = _stays_visible(s, t)
        back = bilinear(s.flow_gt[t + 1, 1].astype(np.float64), x2, y2)
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
    hom = exact_flow.camera_map(p.camera, p).hom
    t = 2
    ys, xs = np.nonzero((s.modal[t] == 0) & ~s.occluder[t])
    x = np.stack([xs, ys], 1).astype(float)
    c = homography.apply(homography.inverse(hom[t + 1]), x)
    for gap, e in ((0, t + 2), (1, t)):
        want = homography.apply(hom[e], c) - x
        np.testing.assert_allclose(s.flow_gt[t, gap][ys, xs], want, atol=1e-4)


def _rigid(p):
    """The scene with every object's deformation switched off: F_e = H_e."""
    still = [replace(o, deformation=replace(o.deformation, amplitude=tuple(
        (0.0, 0.0) for _ in o.deformation.amplitude))) for o in p.objects]
    return replace(p, objects=tuple(still))


@pytest.mark.parametrize("cfg", [CFG, EVENTS], ids=["plain", "events"])
def test_a_rigidly_moving_layer_flows_by_its_homography_displacement(cfg):
    p = _rigid(sample_scene(np.random.default_rng(4), cfg, SMOOTH))
    s = render(p, SMOOTH)
    t, checked = 2, 0
    for k, layer in enumerate(p.objects):
        hom = exact_flow.object_homographies(layer, p.camera, p.taus)[0]
        ys, xs = np.nonzero(s.modal[t] == k + 1)
        checked += len(xs)
        x = np.stack([xs, ys], 1).astype(float)
        c = homography.apply(homography.inverse(hom[t + 1]), x)
        for gap, e in ((0, t + 2), (1, t)):
            want = homography.apply(hom[e], c) - x
            np.testing.assert_allclose(s.flow_gt[t, gap][ys, xs], want, atol=1e-3)
            fmap = exact_flow.object_map(layer, p)
            np.testing.assert_allclose(exact_flow.flow_at(fmap, t + 1, c, x)[gap], want,
                                       atol=1e-9)
    assert checked > 50  # visible pixels (events may hide or move objects out of the frame)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, CFG.frames - 2), st.sampled_from([CFG, EVENTS]))
def test_forward_then_backward_flow_returns_to_the_start_on_a_visible_pixel(seed, t, cfg):
    p = sample_scene(np.random.default_rng(seed), cfg, SMOOTH)
    s = render(p, SMOOTH)
    for k, layer in enumerate(p.objects):
        ys, xs = np.nonzero(s.modal[t] == k + 1)
        if not len(xs):
            continue
        fmap = exact_flow.object_map(layer, p)
        x = np.array([[xs[len(xs) // 2], ys[len(xs) // 2]]], float)  # a visible pixel
        c = fmap.inverse(t + 1, x)
        ahead = exact_flow.flow_at(fmap, t + 1, c, x)[0]
        np.testing.assert_allclose(ahead, s.flow_gt[t, 0][int(x[0, 1]), int(x[0, 0])][None],
                                   atol=2e-3)
        x2 = x + ahead  # where it is in frame t + 1 (rarely a pixel centre)
        back = exact_flow.flow_at(fmap, t + 2, fmap.inverse(t + 2, x2), x2)[1]
        np.testing.assert_allclose(x2 + back, x, atol=1e-6)


def test_the_inverse_map_undoes_the_forward_map():
    p = sample_scene(np.random.default_rng(5), CFG, SMOOTH)
    c = np.random.default_rng(6).uniform(-8, 8, (50, 2))
    for fmap in [exact_flow.camera_map(p.camera, p)] + [exact_flow.object_map(o, p)
                                                          for o in p.objects]:
        for e in (0, p.frames + 1):
            np.testing.assert_allclose(fmap.inverse(e, fmap.forward(e, c)), c, atol=1e-6)


def test_sprite_boxes_hold_every_pixel_an_object_covers(scene):
    p, s = scene
    for k, layer in enumerate(p.objects):
        plan = render_mod._plan_object(layer, p, SMOOTH, k + 1)
        for t in range(p.frames):
            y0, y1, x0, x1 = plan.boxes[t + 1]
            ys, xs = np.nonzero(s.amodal[k, t])
            assert ((ys >= y0) & (ys < y1) & (xs >= x0) & (xs < x1)).all()
