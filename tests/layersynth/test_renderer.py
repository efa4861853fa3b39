"""render(params, assets): the Sequence contract, determinism, masks only, background videos."""

import json
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layersynth.assets.sources import Assets
from layersynth.render.renderer import render, render_masks
from layersynth.scene.config import SceneConfig
from layersynth.scene.params import SceneParams
from layersynth.scene.sampling import sample_scene
from rampvideos import RampVideos

ASSETS = Assets.builtin()
TINY = SceneConfig.preset("tiny", occluder_prob=0.5)


def _scene(seed, cfg=TINY):
    return sample_scene(np.random.default_rng(seed), cfg, ASSETS)


def _same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a.arrays().values(), b.arrays().values(),
                                                   strict=True))


def test_render_outputs_follow_the_sequence_conventions():
    p = _scene(0, SceneConfig.preset("tiny", objects=(3,)))
    s = render(p, ASSETS)
    assert s.shape == (3, 8, 64, 112)
    assert s.rgb.shape == (8, 64, 112, 3) and s.flow_gt.shape == (8, 2, 64, 112, 2)
    assert s.order.tolist() == [[0, 1, 2]] * 8 and s.order.dtype == np.int16  # (T, K), constant
    assert set(np.unique(s.modal)) <= {0, 1, 2, 3}
    assert np.isfinite(s.flow_gt).all()


def test_same_params_render_identical_arrays_and_different_seeds_differ():
    p = _scene(3)
    a, b = render(p, ASSETS), render(p, ASSETS)
    assert _same(a, b)
    c = render(_scene(4), ASSETS)
    assert not np.array_equal(a.rgb, c.rgb) and not np.array_equal(a.flow_gt, c.flow_gt)


@settings(max_examples=5, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_params_after_a_json_round_trip_render_bit_for_bit_the_same(seed):
    p = _scene(seed)
    q = SceneParams.from_dict(json.loads(json.dumps(p.to_dict())))
    assert _same(render(p, ASSETS), render(q, ASSETS))


def test_render_masks_equals_the_masks_of_render():
    p = _scene(6, SceneConfig.preset("tiny", objects=(3,), occluder_prob=1.0))
    s = render(p, ASSETS)
    amodal, modal = render_masks(p, ASSETS)
    assert np.array_equal(amodal, s.amodal) and np.array_equal(modal, s.modal)


def test_objects_move_and_change_shape_over_the_clip():
    # No crossings: both objects are in the frame at every frame.
    s = render(_scene(7, SceneConfig.preset("tiny", objects=(2,), enter_exit_prob=0.0)), ASSETS)
    for k in range(2):
        assert s.amodal[k].any(axis=(1, 2)).all()  # present in every frame
        assert not np.array_equal(s.amodal[k, 0], s.amodal[k, -1])


def test_params_of_another_version_are_refused():
    with pytest.raises(ValueError, match="version"):
        render(replace(_scene(9), version=99), ASSETS)


def test_background_videos_give_one_texture_per_frame_and_round_trip():
    assets = replace(ASSETS, videos=RampVideos())
    cfg = SceneConfig.preset("tiny", video_background_prob=1.0, photometric=False,
                             occluder_prob=0.0)
    p = sample_scene(np.random.default_rng(10), cfg, assets)
    assert p.background_video is not None and assets.describe()["videos"] == {"kind": "ramp"}
    s = render(p, assets)
    means = [s.rgb[t][s.modal[t] == 0].mean() for t in range(p.frames)]
    assert np.all(np.diff(means) > 5)
    q = SceneParams.from_dict(json.loads(json.dumps(p.to_dict())))
    assert _same(render(q, assets), s)
    with pytest.raises(ValueError, match="no videos"):
        render(p, ASSETS)
