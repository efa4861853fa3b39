"""Depth order that changes over time (issue 16): the per-frame order of a scene, modal labels
that follow it at every frame, and planned changes that a model can see (both orders where the
swapped pair overlaps or comes near), at a moment apart or, as an option, at a crossing."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layersynth.assets.sources import Assets
from layersynth.render.composition import modal_from_amodal
from layersynth.render.renderer import render
from layersynth.scene import reorder
from layersynth.scene.config import SceneConfig
from layersynth.scene.params import OrderChange
from layersynth.scene.sampling import sample_scene

ASSETS = Assets.builtin()
SMALL = SceneConfig.preset("tiny", frames=6, height=32, width=48, objects=(3,), occluder_prob=0.5)
REORDER = SceneConfig.preset("syn-val-reorder", frames=12, height=40, width=64)


def test_the_frame_order_swaps_the_pair_from_the_change_time_on():
    p = sample_scene(np.random.default_rng(0), SMALL, ASSETS)
    kept = p.taus[p.margin:p.margin + p.frames]  # -2.5 .. 2.5
    p = replace(p, order_changes=(OrderChange(tau=float(kept[3]), a=1, b=2),))
    order = p.frame_order()
    assert order.shape == (6, 3) and order.dtype == np.int16
    assert order[:3].tolist() == [[0, 1, 2]] * 3 and order[3:].tolist() == [[0, 2, 1]] * 3


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 5), st.integers(0, 1), st.booleans())
def test_modal_labels_are_at_every_frame_the_front_most_object_by_that_frames_order(
        seed, frame, pair, second):
    p = sample_scene(np.random.default_rng(seed), SMALL, ASSETS)
    kept = p.taus[p.margin:p.margin + p.frames]
    changes = [OrderChange(float(kept[frame]), pair, pair + 1)]
    if second:  # a second swap, of the other pair, later: any sequence of ranks holds
        changes.append(OrderChange(float(kept[min(frame + 1, 5)]), 1 - pair, 2 - pair))
    seq = render(replace(p, order_changes=tuple(changes)), ASSETS)
    assert np.array_equal(seq.order, replace(p, order_changes=tuple(changes)).frame_order())
    assert np.array_equal(seq.modal, modal_from_amodal(seq.amodal, seq.occluder, seq.order))
    still = render(p, ASSETS)  # the masks of each object do not depend on the order
    assert np.array_equal(seq.amodal, still.amodal) and np.array_equal(seq.occluder,
                                                                       still.occluder)


def test_the_per_frame_blending_takes_each_frames_front_most_channel():
    amodal = np.ones((2, 2, 1, 1), bool)  # both channels cover the pixel at both frames
    order = np.array([[0, 1], [1, 0]], np.int16)  # channel 0 in front, then channel 1
    assert modal_from_amodal(amodal, None, order)[:, 0, 0].tolist() == [1, 2]
    assert modal_from_amodal(amodal, np.ones((2, 1, 1), bool), order).max() == 0  # occluder


def _pair_distance(seq, change):
    return reorder.pair_distance(seq.amodal[change.a], seq.amodal[change.b])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_planned_change_shows_both_orders_where_the_pair_overlaps_or_comes_near(seed):
    p = sample_scene(np.random.default_rng(seed), REORDER, ASSETS)
    (change,) = p.order_changes
    seq = render(p, ASSETS)
    dist = _pair_distance(seq, change)
    front_a = seq.order[:, change.a] < seq.order[:, change.b]  # (T,) a in front of b
    assert front_a.any() and not front_a.all()  # both orders, at different frames
    near = reorder.NEAR * REORDER.height
    assert (dist[front_a] <= near).any() and (dist[~front_a] <= near).any()
    switch = int(np.argmin(front_a))  # the first frame in the new order
    apart = reorder.APART * REORDER.height
    assert dist[switch - 1] > apart and dist[switch] > apart  # no frame shows it happen
    assert np.array_equal(seq.modal, modal_from_amodal(seq.amodal, seq.occluder, seq.order))


def test_a_change_at_a_crossing_happens_while_the_pair_overlaps():
    cfg = replace(REORDER, order_change_crossing=True)
    for seed in (0, 1):
        p = sample_scene(np.random.default_rng(seed), cfg, ASSETS)
        (change,) = p.order_changes
        seq = render(p, ASSETS)
        front_a = seq.order[:, change.a] < seq.order[:, change.b]
        switch = int(np.argmin(front_a))
        assert _pair_distance(seq, change)[switch - 1:switch + 1].tolist() == [0.0, 0.0]
        overlap = seq.amodal[change.a, switch] & seq.amodal[change.b, switch]
        shown = seq.modal[switch][overlap]  # where neither a third object nor an occluder is
        assert np.all(shown[np.isin(shown, [change.a + 1, change.b + 1])] == change.b + 1)


def test_every_multi_object_scene_of_the_reorder_split_changes_order_and_none_at_rate_0():
    cfg = SceneConfig.preset("tiny", height=32, width=48, order_change_prob=1.0)
    for seed in range(6):
        rng_seed = np.random.default_rng(seed)
        p = sample_scene(rng_seed, cfg, ASSETS)
        assert len(p.order_changes) == (1 if len(p.objects) > 1 else 0)
        assert not sample_scene(np.random.default_rng(seed), replace(cfg, order_change_prob=0.0),
                                ASSETS).order_changes


def test_a_change_is_a_function_of_time_so_a_finer_time_step_keeps_it():
    coarse = sample_scene(np.random.default_rng(3), REORDER, ASSETS)
    finer = replace(REORDER, frames=2 * REORDER.frames - 1, time_step=0.5, gaps=(1, 2))
    fine = sample_scene(np.random.default_rng(3), finer, ASSETS)
    assert fine.order_changes == coarse.order_changes
    assert np.array_equal(fine.frame_order()[::2], coarse.frame_order())


def test_an_order_change_rate_outside_0_1_or_with_single_objects_is_refused():
    with pytest.raises(ValueError, match=r"order_change_prob: must be in \[0, 1\]"):
        SceneConfig(order_change_prob=1.5)
    with pytest.raises(ValueError, match="order_change_prob: .* 2 or more, got objects 1"):
        SceneConfig(order_change_prob=0.2, objects=(1,))
    assert SceneConfig(order_change_prob=0.2, objects=(1, 2)).order_change_prob == 0.2


def test_the_sampler_draws_on_past_its_usual_tries_while_no_scene_allows_a_swap(monkeypatch):
    from layersynth.scene import sampling

    real, calls = reorder.plan_change, []

    def none_at_first(*args):
        calls.append(1)
        return None if len(calls) <= sampling.ORDER_TRIES + 3 else real(*args)

    cfg = replace(REORDER, order_change_crossing=True, objects=(2,))
    monkeypatch.setattr(reorder, "plan_change", none_at_first)
    p = sample_scene(np.random.default_rng(4), cfg, ASSETS)
    assert len(calls) > sampling.ORDER_TRIES + 3 and len(p.order_changes) == 1
    monkeypatch.setattr(reorder, "plan_change", lambda *args: None)
    with pytest.raises(ValueError, match=f"none of {sampling.ORDER_TRIES_MAX} scenes"):
        sample_scene(np.random.default_rng(4), cfg, ASSETS)
