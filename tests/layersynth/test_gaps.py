"""The render side of flow at any set of gaps: more gaps add their +-g flows (flow_gt index
2i = +gaps[i], 2i + 1 = -gaps[i]) and leave the rest unchanged, and a gap-2 flow is two gap-1
steps and warps frame t + 2 onto frame t."""

from dataclasses import replace

import numpy as np
import pytest
from flowwarp import bilinear, stays_on_layer
from layersynth.assets.sources import Assets
from layersynth.render import exact_flow
from layersynth.render.renderer import render
from layersynth.scene.config import SceneConfig
from layersynth.scene.sampling import sample_scene

ASSETS = Assets.builtin()
SMOOTH = Assets.builtin(smooth=True)
# Every kind of layer and event at 32 x 48: articulated bodies, spells, a crossing, a hidden
# object, shake, occluder and near planes.
EVENTS = SceneConfig.preset("tiny", frames=7, height=32, width=48, objects=(3,), occluder_prob=1.0,
                            static_spell_prob=0.5, static_ramp=1.0, static_spell_frames=(2.0, 3.0),
                            enter_exit_prob=0.3, full_occlusion_prob=1.0, articulated_prob=0.5,
                            shake_prob=1.0, parallax_prob=1.0)
# One far plane, no articulated parts and no jitter: each layer id has one smooth flow field,
# so that two steps of it compose (the occluder has its own id below).
RIGID = SceneConfig.preset("tiny", frames=6, height=48, width=64, objects=(2,), photometric=False,
                           occluder_prob=0.5, articulated_prob=0.0, parallax_prob=0.0)


@pytest.fixture(scope="module", params=[0, 1, 3])
def both(request):
    """(params with gaps (1,), its render, the same scene's render with gaps (1, 2))."""
    p = sample_scene(np.random.default_rng(request.param), EVENTS, ASSETS)
    return p, render(p, ASSETS), render(replace(p, gaps=(1, 2)), ASSETS)


def test_more_gaps_add_flows_and_change_nothing_already_there(both):
    p, one, two = both
    assert two.gaps == (1, 2) and two.flow_gt.shape == (p.frames, 4, p.height, p.width, 2)
    for name in ("rgb", "amodal", "modal", "occluder"):
        assert np.array_equal(getattr(one, name), getattr(two, name)), name
    assert np.array_equal(one.flow_gt, two.flow_gt[:, :2])
    assert np.abs(two.flow_gt[:, 2:]).max() > np.abs(two.flow_gt[:, :2]).max()  # further


def test_the_sampler_draws_the_same_scene_whatever_the_gaps():
    a = sample_scene(np.random.default_rng(2), EVENTS, ASSETS)
    b = sample_scene(np.random.default_rng(2), replace(EVENTS, gaps=(1, 2, 3)), ASSETS)
    assert b.gaps == (1, 2, 3) and replace(b, gaps=(1,)) == a


@pytest.fixture(scope="module", params=[0, 1, 2])
def rigid(request):
    p = sample_scene(np.random.default_rng(request.param), replace(RIGID, gaps=(1, 2)), SMOOTH)
    s = render(p, SMOOTH)
    return p, s, s.modal.astype(np.int32) + 1000 * s.occluder


def _composed(flow: np.ndarray, ids: np.ndarray, t: int):
    """Where frame t's +1 flow stays on its layer: (keep (H, W), the +1 step then frame t + 1's
    +1 flow sampled there, (N, 2)); flow (T, F, H, W, 2) with index 0 the +1 flow."""
    keep, x2, y2 = stays_on_layer(flow, ids, t)
    second = bilinear(flow[t + 1, 0].astype(np.float64), x2, y2)
    return keep, flow[t, 0][keep] + second


def test_a_gap_two_flow_is_two_gap_one_steps_on_interior_pixels(rigid):
    p, s, ids = rigid
    checked, worst = 0, 0.0
    for flow, labels, g2 in ((s.flow_gt, ids, 2), (s.flow_gt[::-1][:, [1, 0, 3, 2]], ids[::-1], 2)):
        for t in range(p.frames - 1):
            keep, composed = _composed(flow, labels, t)
            err = np.hypot(*(flow[t, g2][keep] - composed).T)
            checked, worst = checked + err.size, max(worst, float(err.max(initial=0.0)))
    assert checked > 0.7 * 2 * (p.frames - 1) * p.height * p.width
    assert worst < 0.05


def test_warping_frame_t_plus_two_with_the_gap_two_flow_reproduces_frame_t(rigid):
    p, s, ids = rigid
    errors = []
    for t in range(p.frames - 2):
        pair = np.stack([ids[t], ids[t + 2]])  # stays_on_layer checks frame 1 of the pair
        keep, x2, y2 = stays_on_layer(s.flow_gt[t:t + 1, 2:3], pair, 0)
        warped = bilinear(s.rgb[t + 2].astype(np.float64), x2, y2)
        errors.append(np.abs(warped - s.rgb[t][keep]).ravel())
    errors = np.concatenate(errors)
    assert errors.size > 0.6 * 3 * (p.frames - 2) * p.height * p.width
    assert errors.mean() < 2.0


def test_flow_at_gives_every_gap_in_the_kernels_order():
    p = sample_scene(np.random.default_rng(0), replace(RIGID, gaps=(1, 3)), SMOOTH)
    fmap = exact_flow.object_map(p.objects[0], p)
    e, x = p.margin + 1, np.array([[20.0, 15.0]])
    c = fmap.inverse(e, x)
    flows = exact_flow.flow_at(fmap, e, c, x)
    assert list(fmap.offsets) == [1, -1, 3, -3] and flows.shape == (4, 1, 2)
    for i, d in enumerate((1, -1, 3, -3)):
        np.testing.assert_allclose(flows[i], fmap.forward(e + d, c) - x)
