"""scene.events: static spells, paths entering and leaving the frame, full occlusions, rates."""

import json

import numpy as np
import pytest
from layersynth.assets.sources import Assets
from layersynth.motion import homography
from layersynth.render.composition import modal_from_amodal, occlusion_fraction
from layersynth.render.renderer import render, render_masks
from layersynth.scene import events
from layersynth.scene.config import SceneConfig
from layersynth.scene.params import SceneParams
from layersynth.scene.sampling import sample_scene

SMOOTH = Assets.builtin(smooth=True)
ASSETS = Assets.builtin()
BASE = dict(frames=12, photometric=False, objects=(1, 2, 3))
STATIC = SceneConfig.preset("tiny", **BASE, static_spell_prob=1.0, enter_exit_prob=0.0,
                            full_occlusion_prob=0.0)
CROSS = SceneConfig.preset("tiny", **BASE, static_spell_prob=0.0, enter_exit_prob=1.0,
                           full_occlusion_prob=0.0)
HIDE = SceneConfig.preset("tiny", **BASE, full_occlusion_prob=1.0)


def _scene(seed, cfg, assets=SMOOTH):
    p = sample_scene(np.random.default_rng(seed), cfg, assets)
    return p, render(p, assets)


def _camera_flow(p, t, xs, ys):
    hom = homography.matrices(np.asarray(p.camera.coeffs), p.taus, p.camera.shake)
    x = np.stack([xs, ys], 1).astype(float)
    c = homography.apply(homography.inverse(hom[t + 1]), x)
    return [homography.apply(hom[e], c) - x for e in (t + 2, t)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_during_a_static_spell_the_object_flows_exactly_as_the_background_there(seed):
    p, s = _scene(seed, STATIC)
    checked = 0
    for k, o in enumerate(p.objects):
        assert o.spell is not None and o.spell.end - o.spell.start >= 6.0 - 1e-9
        for t in range(p.frames):
            taus = p.taus[[t, t + 1, t + 2]]
            if not ((taus >= o.spell.start) & (taus <= o.spell.end)).all():
                continue
            ys, xs = np.nonzero(s.modal[t] == k + 1)
            for gap, want in enumerate(_camera_flow(p, t, xs, ys)):
                np.testing.assert_allclose(s.flow_gt[t, gap][ys, xs], want, atol=2e-3)
            checked += len(xs)
    assert checked > 200


def test_a_static_object_moves_relative_to_the_background_outside_its_spell():
    p, s = _scene(3, SceneConfig.preset("tiny", frames=30, objects=(1,), photometric=False,
                                        static_spell_prob=1.0, enter_exit_prob=0.0,
                                        full_occlusion_prob=0.0))
    o = p.objects[0]
    t = next(t for t in range(p.frames) if p.taus[t + 2] < o.spell.start - o.spell.ramp
             or p.taus[t] > o.spell.end + o.spell.ramp)
    ys, xs = np.nonzero(s.modal[t] == 1)
    rel = s.flow_gt[t, 0][ys, xs] - _camera_flow(p, t, xs, ys)[0]
    assert np.hypot(*rel.T).mean() > 0.05


def _outside(points, h, w):
    """True when all points lie beyond one edge of the frame."""
    x, y = points[:, 0], points[:, 1]
    return bool((x < 0).all() or (x > w).all() or (y < 0).all() or (y > h).all())


@pytest.mark.parametrize("seed", range(4))
def test_entering_and_leaving_objects_start_or_end_wholly_outside_and_show_inside(seed):
    p, s = _scene(seed, CROSS)
    for k, o in enumerate(p.objects):
        assert o.crossing in ("enter", "leave")
        e_out = 0 if o.crossing == "enter" else p.frames + 1
        tau = p.taus[e_out:e_out + 1]
        # The outline through the object's exact map(s) (an articulated body's parts each through
        # its own), taken back from the camera's coordinates into the image.
        outline = events.footprint(o, p, SMOOTH, tau)[0]
        camera = homography.matrices(np.asarray(p.camera.coeffs), tau, p.camera.shake)[0]
        assert _outside(homography.apply(camera, outline), p.height, p.width)
        area = s.amodal[k].reshape(p.frames, -1).sum(1)
        assert area.max() > 0
        ends = (area[0], area[-1]) if o.crossing == "enter" else (area[-1], area[0])
        assert ends[0] < ends[1]


@pytest.mark.parametrize("seed", range(4))
def test_the_hidden_object_is_wholly_covered_over_its_window(seed):
    p, s = _scene(seed, HIDE)
    assert p.hidden >= 0 and p.occluder is not None
    k, (t0, t1) = p.hidden, p.hidden_window
    inside = [t for t in range(p.frames) if t0 <= p.taus[t + 1] <= t1]
    assert inside
    for t in inside:
        assert not (s.modal[t] == k + 1).any()
        assert s.amodal[k, t].any()


@pytest.mark.parametrize("seed", range(3))
def test_event_scenes_keep_the_modal_amodal_invariants(seed):
    cfg = SceneConfig.preset("tiny", frames=12, static_spell_prob=0.5, enter_exit_prob=0.5,
                             full_occlusion_prob=1.0)
    p, s = _scene(seed, cfg, ASSETS)
    assert np.array_equal(s.modal, modal_from_amodal(s.amodal, s.occluder))
    assert not (s.modal[s.occluder] > 0).any()


def test_event_scenes_regenerate_bit_for_bit_and_survive_a_json_round_trip():
    cfg = SceneConfig.preset("tiny", static_spell_prob=0.5, enter_exit_prob=0.5,
                             full_occlusion_prob=1.0)
    a, sa = _scene(11, cfg, ASSETS)
    b, sb = _scene(11, cfg, ASSETS)
    assert a == b
    q = SceneParams.from_dict(json.loads(json.dumps(a.to_dict())))
    assert q == a
    sq = render(q, ASSETS)
    for x, y, z in zip(sa.arrays().values(), sb.arrays().values(), sq.arrays().values(),
                       strict=True):
        assert x.tobytes() == y.tobytes() == z.tobytes()


def test_event_rates_come_out_near_the_configured_rates():
    cfg = SceneConfig.preset("tiny", static_spell_prob=0.3, enter_exit_prob=0.2,
                             full_occlusion_prob=0.4)
    rng = np.random.default_rng(0)
    scenes = [sample_scene(rng, cfg, ASSETS) for _ in range(300)]
    objects = [o for p in scenes for o in p.objects]
    spell = np.mean([o.spell is not None for o in objects])
    cross = np.mean([o.crossing != "" for o in objects])
    hidden = np.mean([p.hidden >= 0 for p in scenes])
    assert abs(spell - 0.3) < 0.05 and abs(cross - 0.2) < 0.05
    assert 0.3 <= hidden <= 0.45  # a few draws fall where the object is out of the frame
    assert {o.crossing for o in objects} == {"", "enter", "leave"}


def test_without_events_no_object_pauses_crosses_or_hides():
    cfg = SceneConfig.preset("tiny", static_spell_prob=0.0, enter_exit_prob=0.0,
                             full_occlusion_prob=0.0)
    rng = np.random.default_rng(1)
    for _ in range(30):
        p = sample_scene(rng, cfg, ASSETS)
        assert p.hidden == -1 and all(o.spell is None and o.crossing == "" for o in p.objects)


def test_a_clip_too_short_for_a_spell_gets_none():
    cfg = SceneConfig.preset("tiny", frames=4, static_ramp=2.0)
    assert events.sample_spell(np.random.default_rng(0), cfg) is None


def test_the_occlusion_range_still_holds_with_full_occlusions_on():
    cfg = SceneConfig.preset("tiny", frames=6, objects=(2,), full_occlusion_prob=1.0,
                             occlusion=(0.2, 0.5))
    rng = np.random.default_rng(4)
    for _ in range(3):
        p = sample_scene(rng, cfg, ASSETS)
        assert 0.2 <= occlusion_fraction(*render_masks(p, ASSETS)) <= 0.5
