"""Scene records: exact JSON round trips, defaults for absent fields, extended-frame times."""

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from layersynth.assets.sources import Assets
from layersynth.scene.config import SceneConfig
from layersynth.scene.params import PARAMS_VERSION, SceneParams, gap_offsets
from layersynth.scene.sampling import sample_scene

ASSETS = Assets.builtin()


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["tiny", "oclr"]))
def test_scene_params_round_trip_through_json_exactly(seed, preset):
    cfg = SceneConfig.preset(preset, occluder_prob=0.5)
    p = sample_scene(np.random.default_rng(seed), cfg, ASSETS)
    assert SceneParams.from_dict(json.loads(json.dumps(p.to_dict()))) == p


def test_records_after_a_json_round_trip_compare_and_hash_by_value():
    p = sample_scene(np.random.default_rng(1), SceneConfig.preset("tiny"), ASSETS)
    q = SceneParams.from_dict(json.loads(json.dumps(p.to_dict())))
    assert q == p and hash(q) == hash(p)
    assert isinstance(q.objects, tuple) and isinstance(q.camera.coeffs[0], tuple)


def test_fields_absent_from_the_dict_take_their_defaults():
    p = sample_scene(np.random.default_rng(2), SceneConfig.preset("tiny", occluder_prob=0.0,
                                                                full_occlusion_prob=0.0),
                     ASSETS)
    d = {k: v for k, v in p.to_dict().items() if k not in ("occluder", "background_video",
                                                           "version")}
    q = SceneParams.from_dict(json.loads(json.dumps(d)))
    assert q.occluder is None and q.background_video is None and q.version == PARAMS_VERSION
    assert q == p


def test_taus_are_the_t_plus_2_extended_frame_times_centred_on_the_clip():
    p = sample_scene(np.random.default_rng(3), SceneConfig.preset("tiny", frames=4), ASSETS)
    np.testing.assert_array_equal(p.taus, [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5])


def test_time_step_and_gaps_round_trip_and_set_the_extended_frames():
    cfg = SceneConfig.preset("tiny", frames=5, time_step=0.25, gaps=(1, 3))
    p = sample_scene(np.random.default_rng(4), cfg, ASSETS)
    assert SceneParams.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    assert (p.time_step, p.gaps, p.margin, p.extended, p.duration) == (0.25, (1, 3), 3, 11, 1.0)
    np.testing.assert_array_equal(p.taus, 0.25 * (np.arange(11) - 5))
    np.testing.assert_array_equal(gap_offsets(p.gaps), [1, -1, 3, -3])


def test_records_without_time_step_or_gaps_read_as_one_nominal_frame_and_gap_one():
    p = sample_scene(np.random.default_rng(5), SceneConfig.preset("tiny"), ASSETS)
    d = {k: v for k, v in p.to_dict().items() if k not in ("time_step", "gaps")}
    q = SceneParams.from_dict(json.loads(json.dumps(d)))
    assert q == p and (q.time_step, q.gaps) == (1.0, (1,)) and PARAMS_VERSION == 3
