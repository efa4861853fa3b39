"""Articulated sprites: poses, outlines, and exact flow and masks of scenes made of them (smooth
textures, photometric jitter off), checked like the single-map objects of test_exact_flow."""

import json
from dataclasses import replace

import numpy as np
import pytest
from flowwarp import bilinear, stays_on_layer
from hypothesis import given, settings
from hypothesis import strategies as st
from layersynth.assets.sources import Assets
from layersynth.motion import homography
from layersynth.render import articulated, exact_flow
from layersynth.render import renderer as render_mod
from layersynth.render.composition import modal_from_amodal
from layersynth.render.renderer import render, render_masks
from layersynth.scene.config import SceneConfig
from layersynth.scene.params import SceneParams
from layersynth.scene.sampling import sample_scene
from scipy import ndimage

SMOOTH = Assets.builtin(smooth=True)
# One far background plane: the part ids below do not tell near planes apart (test_planes.py).
CFG = SceneConfig.preset("tiny", objects=(3,), photometric=False, occluder_prob=0.5,
                         articulated_prob=1.0, parallax_prob=0.0)



def _part_ids(p):
    """(T, H, W) int32: 1 + the running index of the visible part (0 background), from the
    renderer's own sub-layers relabelled one label per part (no occluder: added by the caller)."""
    subs = []
    for k, layer in enumerate(p.objects):
        subs += list(render_mod._plan_object(layer, p, SMOOTH, k + 1).parts)
    subs = [replace(sub, label=i + 1) for i, sub in enumerate(subs)]
    canvas = render_mod.Canvas.empty(p.frames, p.height, p.width, len(subs), shade_on=False)
    return render_mod.compose(subs, canvas).modal.astype(np.int32)


def _stays_visible(s, t, parts):
    """Pixels of frame t whose +1 flow lands where all four neighbours at t + 1 show the same
    part (an articulated object hides its own parts behind others: same label, other flow)."""
    return stays_on_layer(s.flow_gt, parts + 1000 * s.occluder, t)


@pytest.fixture(scope="module", params=[0, 1])
def scene(request):
    p = sample_scene(np.random.default_rng(request.param), CFG, SMOOTH)
    return p, render(p, SMOOTH)


@pytest.fixture(scope="module")
def parts(scene):
    return _part_ids(scene[0])


def test_the_scenes_hold_articulated_objects_whose_joints_move(scene):
    p, s = scene
    assert [o.sprite.kind for o in p.objects] == ["articulated"] * 3
    for o in p.objects:
        parts = o.sprite.parts
        assert len(parts) >= 4 and sum(part.parent < 0 for part in parts) == 1
        angles = np.stack([articulated.joint_angles(part, p.taus) for part in parts])
        assert np.ptp(angles, axis=1).max() > 0.1  # some joint turns by > 0.1 rad in the clip


def test_joint_angles_are_smooth_in_continuous_time():
    p = sample_scene(np.random.default_rng(3), CFG, SMOOTH)
    part = next(x for x in p.objects[0].sprite.parts if x.swing > 0)
    taus = np.linspace(-5, 5, 1001)
    theta = articulated.joint_angles(part, taus)
    step = np.abs(np.diff(theta)).max()
    assert step <= part.swing * part.freq * (taus[1] - taus[0]) + 1e-12  # |dtheta/dtau| bound


def test_warping_the_next_frame_with_the_flow_reproduces_the_frame(scene, parts):
    _, s = scene
    errors = []
    for t in range(s.rgb.shape[0] - 1):
        keep, x2, y2 = _stays_visible(s, t, parts)
        warped = bilinear(s.rgb[t + 1].astype(np.float64), x2, y2)
        errors.append(np.abs(warped - s.rgb[t][keep]).ravel())
    errors = np.concatenate(errors)
    assert errors.size > 0.8 * 3 * s.rgb[:-1, ..., 0].size
    assert errors.mean() < 2.0


def test_forward_and_backward_flows_are_inverse(scene, parts):
    _, s = scene
    worst = 0.0
    for t in range(s.rgb.shape[0] - 1):
        keep, x2, y2 = _stays_visible(s, t, parts)
        back = bilinear(s.flow_gt[t + 1, 1].astype(np.float64), x2, y2)
        worst = max(worst, float(np.hypot(*(s.flow_gt[t, 0][keep] + back).T).max()))
    assert worst < 0.05


def test_each_visible_pixel_flows_by_the_map_of_a_part_covering_it(scene):
    """The flow at a pixel of object k is F_p,e+-1(F_p,e^-1(x)) - x for one of k's parts p."""
    p, s = scene
    t, checked = 3, 0
    for k, layer in enumerate(p.objects):
        plan = render_mod._plan_object(layer, p, SMOOTH, k + 1)
        ys, xs = np.nonzero(s.modal[t] == k + 1)
        x = np.stack([xs, ys], 1).astype(float)
        best = np.full(len(xs), np.inf)
        for sub in plan.parts:
            c = sub.fmap.inverse(t + 1, x)
            ok = sub.mask.covers(c)
            err = np.abs(exact_flow.flow_at(sub.fmap, t + 1, c, x) - s.flow_gt[t][:, ys, xs])
            err = np.where(ok, err.max(axis=(0, 2)), np.inf)
            best = np.minimum(best, err)
        assert best.max(initial=0.0) < 2e-3
        checked += len(xs)
    assert checked > 20  # some object visible (events may hide one or move it out of the frame)


def test_rigid_parts_move_by_the_homography_of_the_object_after_their_pose(scene):
    p, _ = scene
    layer = p.objects[0]
    maps = exact_flow.part_maps(layer, p)
    poses = articulated.poses(layer.sprite.parts, p.taus)
    hom = homography.matrices(np.asarray(layer.motion.coeffs), p.taus)
    c = np.random.default_rng(0).uniform(-5, 5, (20, 2))
    for q, part in enumerate(layer.sprite.parts):
        if part.parent < 0:
            continue
        for e in (0, 4, p.frames + 1):
            want = homography.apply(hom[e], homography.apply(poses[q, e], c))
            np.testing.assert_allclose(maps[q].forward(e, c), want, atol=1e-9)
            np.testing.assert_allclose(maps[q].inverse(e, want), c, atol=1e-9)


def test_a_child_part_keeps_its_hinge_where_its_parent_puts_it():
    p = sample_scene(np.random.default_rng(7), CFG, SMOOTH)
    parts = p.objects[0].sprite.parts
    poses = articulated.poses(parts, p.taus)
    for q, part in enumerate(parts):
        if part.parent >= 0:
            hinge = np.array([part.hinge])
            for e in range(p.frames + 2):
                np.testing.assert_allclose(homography.apply(poses[q, e], hinge),
                                           homography.apply(poses[part.parent, e], hinge),
                                           atol=1e-9)


def test_one_label_per_object_amodal_is_the_union_of_the_parts_and_modal_blends_it(scene):
    p, s = scene
    assert set(np.unique(s.modal)) <= {0, 1, 2, 3}
    np.testing.assert_array_equal(s.modal, modal_from_amodal(s.amodal, s.occluder))
    layer = p.objects[1]
    alone = SceneParams(p.frames, p.height, p.width, (layer,), p.background, p.camera)
    parts = render_mod._plan_object(layer, alone, SMOOTH, 1).parts
    union = np.zeros(s.amodal.shape[1:], bool)
    for sub in parts:
        one = render_mod._ArticulatedLayer((sub,))
        canvas = render_mod.Canvas.empty(p.frames, p.height, p.width, 1, shade_on=False)
        union |= render_mod.compose([one], canvas).amodal[0]
    np.testing.assert_array_equal(union, s.amodal[1])
    assert union.any()


def test_articulated_amodal_masks_are_one_piece_up_to_specks_at_limb_tips(scene):
    """Parts stay joined at every angle; only sub-pixel limb tips may leave a speck or two.
    Frames where the body crosses the frame edge are left out: the part joining two visible
    limbs may be outside."""
    p, s = scene
    for k in range(3):
        for t in range(p.frames):
            m = s.amodal[k, t]
            labels, n = ndimage.label(m, structure=np.ones((3, 3)))
            if n and not (m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any()):
                sizes = np.bincount(labels.ravel())[1:]
                assert sizes.max() >= 0.97 * sizes.sum()


def test_sprite_boxes_hold_every_pixel_of_every_part(scene):
    p, s = scene
    for k, layer in enumerate(p.objects):
        plan = render_mod._plan_object(layer, p, SMOOTH, k + 1)
        for t in range(p.frames):
            y0, y1, x0, x1 = plan.boxes[t + 1]
            ys, xs = np.nonzero(s.amodal[k, t])
            assert ((ys >= y0) & (ys < y1) & (xs >= x0) & (xs < x1)).all()


def test_articulated_scenes_regenerate_bit_for_bit_through_json():
    cfg = SceneConfig.preset("tiny", articulated_prob=1.0)
    a = sample_scene(np.random.default_rng(11), cfg, Assets.builtin())
    b = sample_scene(np.random.default_rng(11), cfg, Assets.builtin())
    assert a == b
    q = SceneParams.from_dict(json.loads(json.dumps(a.to_dict())))
    assert q == a
    x, y = render(a, Assets.builtin()), render(q, Assets.builtin())
    assert all(np.array_equal(u, v) for u, v in zip(x.arrays().values(), y.arrays().values(),
                                                   strict=True))
    amodal, modal = render_masks(a, Assets.builtin())
    assert np.array_equal(amodal, x.amodal) and np.array_equal(modal, x.modal)


def test_the_outline_is_one_shapely_polygon_whose_solidity_is_low():
    p = sample_scene(np.random.default_rng(2), CFG, SMOOTH)
    for o in p.objects:
        shape = articulated.outline(o.sprite.parts)
        assert shape.geom_type == "Polygon"  # parts joined at their hinges: one piece
        assert shape.area / shape.convex_hull.area < 0.85


def test_a_part_hanging_from_itself_is_refused():
    p = sample_scene(np.random.default_rng(2), CFG, SMOOTH)
    parts = list(p.objects[0].sprite.parts)
    q = next(i for i, x in enumerate(parts) if x.parent >= 0)
    parts[q] = replace(parts[q], parent=q)
    with pytest.raises(ValueError, match="makes no tree"):
        articulated.poses(tuple(parts), p.taus)


@settings(max_examples=6, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, CFG.frames - 2))
def test_a_visible_pixel_goes_forward_then_back_to_its_start_through_its_part(seed, t):
    p = sample_scene(np.random.default_rng(seed), CFG, SMOOTH)
    s = render(p, SMOOTH)
    np.testing.assert_array_equal(s.modal, modal_from_amodal(s.amodal, s.occluder))
    for k, layer in enumerate(p.objects):
        ys, xs = np.nonzero(s.modal[t] == k + 1)
        if not len(xs):
            continue
        x = np.array([[xs[len(xs) // 2], ys[len(xs) // 2]]], float)
        want = s.flow_gt[t, 0][int(x[0, 1]), int(x[0, 0])]
        plan = render_mod._plan_object(layer, p, SMOOTH, k + 1)
        fmaps = [sub.fmap for sub in plan.parts]
        ahead = [exact_flow.flow_at(f, t + 1, f.inverse(t + 1, x), x)[0, 0] for f in fmaps]
        q = int(np.argmin([np.abs(a - want).max() for a in ahead]))  # the part drawn there
        np.testing.assert_allclose(ahead[q], want, atol=2e-3)
        x2 = x + ahead[q]
        f = fmaps[q]
        back = exact_flow.flow_at(f, t + 2, f.inverse(t + 2, x2), x2)[1]
        np.testing.assert_allclose(x2 + back, x, atol=1e-6)
