"""Frame-rate control: a scene is a function of continuous time, so the same seed at time step
S / k with k (T - 1) + 1 frames holds, at every k-th frame, exactly the frame of the S run (RGB,
amodal, modal, occluder), and its gap +-k flow is the S run's gap +-1 flow."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layersynth.assets.sources import Assets
from layersynth.render.renderer import render
from layersynth.scene.config import SceneConfig
from layersynth.scene.params import video_frames
from layersynth.scene.sampling import nominal_rate, sample_scene
from rampvideos import RampVideos

ASSETS = Assets.builtin()
T = 5
# Every time-dependent part of a scene: articulated joints, TPS deformation, photometric jitter,
# spells, frame crossings, a hidden object, shake, near planes and the occluder's plane.
EVENTS = SceneConfig.preset("tiny", frames=T, height=32, width=48, objects=(3,),
                            occluder_prob=1.0, static_spell_prob=0.5, static_ramp=1.0,
                            static_spell_frames=(1.0, 1.5), enter_exit_prob=0.3,
                            full_occlusion_prob=1.0, articulated_prob=0.5, shake_prob=1.0,
                            parallax_prob=1.0)
SEEDS = (0, 1, 2, 3)


def _finer(cfg: SceneConfig, k: int, gaps=None) -> SceneConfig:
    """The same clip at k times the frame rate: time step / k, k (T - 1) + 1 frames."""
    return replace(cfg, frames=k * (cfg.frames - 1) + 1, time_step=cfg.time_step / k,
                   gaps=gaps or (1, k))


def _pair(seed: int, k: int):
    coarse = sample_scene(np.random.default_rng(seed), EVENTS, ASSETS)
    fine = sample_scene(np.random.default_rng(seed), _finer(EVENTS, k), ASSETS)
    return coarse, fine


def test_the_extended_frames_sit_at_exact_multiples_of_the_time_step():
    p = replace(sample_scene(np.random.default_rng(0), EVENTS, ASSETS), frames=7, time_step=0.5,
                gaps=(1, 2))
    assert p.margin == 2 and p.extended == 11 and p.duration == 3.0
    np.testing.assert_array_equal(p.taus, np.arange(-2.5, 2.6, 0.5))  # G = 2 fine frames
    kept = p.taus[p.margin:p.margin + p.frames]
    assert kept[0] == -p.duration / 2 and kept[-1] == p.duration / 2
    np.testing.assert_array_equal(p.clock(p.taus), p.taus + 2.5)  # 0 one nominal frame before


@pytest.mark.parametrize("k", [2, 4])
def test_the_sampler_draws_the_same_scene_for_the_same_duration(k):
    for seed in SEEDS:
        coarse, fine = _pair(seed, k)
        assert fine.time_step == 1.0 / k and fine.gaps == (1, k)
        assert replace(fine, frames=T, time_step=1.0, gaps=(1,)) == coarse


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 12), st.sampled_from([2, 4, 8]),
       st.sampled_from(["tiny", "oclr", "syn-val-static", "syn-val-occluded"]))
def test_no_draw_depends_on_the_frame_count_beyond_the_duration(seed, frames, k, preset):
    cfg = SceneConfig.preset(preset, frames=frames)
    coarse = sample_scene(np.random.default_rng(seed), cfg, ASSETS)
    fine = sample_scene(np.random.default_rng(seed), _finer(cfg, k, gaps=(1,)), ASSETS)
    assert replace(fine, frames=frames, time_step=1.0) == coarse


def test_the_contract_scenes_hold_every_time_dependent_part():
    scenes = [_pair(seed, 2)[0] for seed in SEEDS]
    objects = [o for p in scenes for o in p.objects]
    assert any(o.spell is not None for o in objects)
    assert any(o.crossing for o in objects)
    assert {"articulated", "polygon"} <= {o.sprite.kind for o in objects}
    assert all(np.abs(o.deformation.amplitude).max() > 0 for o in objects)
    assert all(max(o.appearance.jitter_amp) > 0 for o in objects)
    assert all(p.camera.shake and p.planes and p.occluder.motion for p in scenes)
    assert any(p.hidden >= 0 for p in scenes)


@pytest.mark.parametrize("k", [2, 4])
@pytest.mark.parametrize("seed", SEEDS)
def test_every_kth_frame_at_time_step_one_kth_is_the_frame_at_time_step_one(seed, k):
    coarse, fine = _pair(seed, k)
    c, f = render(coarse, ASSETS), render(fine, ASSETS)
    assert f.rgb.shape[0] == k * (T - 1) + 1
    for name in ("rgb", "modal", "occluder"):
        assert np.array_equal(getattr(f, name)[::k], getattr(c, name)), name
    assert np.array_equal(f.amodal[:, ::k], c.amodal)
    # Flow index 2 and 3 of the fine run are its gaps +k and -k: the coarse run's +1 and -1
    # (the same canonical points through the same maps, so equal to the bit).
    assert np.array_equal(f.flow_gt[::k, 2:4], c.flow_gt)
    assert not np.array_equal(f.rgb[1], f.rgb[0])  # the frames between are new ones


def test_the_frames_between_lie_between_in_motion():
    coarse, fine = _pair(1, 2)
    f = render(fine, ASSETS)
    half, whole = f.flow_gt[:, 0], f.flow_gt[:, 2]  # +1 fine step (half a nominal frame), +2
    moving = np.hypot(*np.moveaxis(whole, -1, 0)) > 0.5
    ratio = np.hypot(*np.moveaxis(half, -1, 0))[moving] / np.hypot(*np.moveaxis(whole, -1, 0))[
        moving]
    assert 0.4 < np.median(ratio) < 0.6


def test_an_occlusion_range_chooses_the_same_scene_at_any_time_step():
    cfg = replace(EVENTS, occlusion=(0.15, 0.6), occluder_prob=0.5)
    for seed in (0, 1):
        coarse = sample_scene(np.random.default_rng(seed), cfg, ASSETS)
        fine = sample_scene(np.random.default_rng(seed), _finer(cfg, 2), ASSETS)
        assert replace(fine, frames=T, time_step=1.0, gaps=(1,)) == coarse
        assert nominal_rate(fine) == replace(coarse, gaps=(1,))


def test_a_background_video_shows_its_nearest_frame_and_keeps_the_contract():
    assets = replace(ASSETS, videos=RampVideos(starts=3, expect_count=video_frames((T - 1) * 1.0)))
    cfg = replace(EVENTS, video_background_prob=1.0, photometric=False, occluder_prob=0.0,
                  full_occlusion_prob=0.0, objects=(1,))
    coarse = sample_scene(np.random.default_rng(4), cfg, assets)
    fine = sample_scene(np.random.default_rng(4), _finer(cfg, 2), assets)
    c, f = render(coarse, assets), render(fine, assets)
    assert coarse.background_video is not None
    assert np.array_equal(f.rgb[::2], c.rgb)
    # Frame 1 at phase-clock time 1.5 shows video frame 2 (ties go to the later frame), as frame
    # 2 does; frame 0 shows video frame 1. The camera moves the video, so compare levels.
    background = (f.modal[:3] == 0).all(0)
    levels = [np.median(f.rgb[t][background], axis=0) for t in range(3)]
    assert np.array_equal(levels[1], levels[2]) and not np.array_equal(levels[0], levels[1])
