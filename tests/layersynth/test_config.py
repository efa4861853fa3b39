import json
import re

import numpy as np
import pytest
from layersynth.scene.config import PRESETS, SceneConfig


def test_oclr_preset_has_the_papers_clip_size_and_object_counts():
    cfg = SceneConfig.preset("oclr")
    assert (cfg.frames, cfg.height, cfg.width) == (30, 128, 224)
    assert cfg.objects == (1, 2, 3)
    assert cfg.occlusion == (0.0, 1.0)


def test_syn_val_uses_the_same_scene_settings_as_oclr():
    assert SceneConfig.preset("syn-val") == SceneConfig.preset("oclr")


def test_tiny_preset_is_small_but_keeps_the_scene_mix():
    tiny, oclr = SceneConfig.preset("tiny"), SceneConfig.preset("oclr")
    assert (tiny.frames, tiny.height, tiny.width) == (8, 64, 112)
    assert tiny.objects == (1, 2, 3)
    assert tiny.occluder_prob == oclr.occluder_prob > 0
    assert tiny.camera_speed == oclr.camera_speed > 0


def test_unknown_preset_lists_the_valid_names():
    names = ("oclr, syn-val, syn-val-articulated, syn-val-occluded, syn-val-reorder, "
             "syn-val-static, tiny")
    with pytest.raises(ValueError, match=names):
        SceneConfig.preset("huge")


def test_preset_overrides_replace_fields():
    cfg = SceneConfig.preset("tiny", frames=5, objects=(2,), photometric=False)
    assert (cfg.frames, cfg.objects, cfg.photometric) == (5, (2,), False)


@pytest.mark.parametrize("field,value", [
    ("frames", 0), ("height", 8), ("objects", ()), ("objects", (0, 1)), ("occlusion", (0.6, 0.2)),
    ("occlusion", (0.0, 1.5)), ("occluder_prob", 1.5), ("deform", 0.7), ("polygon_sides", (2, 5)),
    ("silhouette_grid", 1), ("object_size", (0.3, 0.1)), ("camera_perspective", 0.9),
])
def test_invalid_values_raise_value_error_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field.split("_")[0]):
        SceneConfig(**{field: value})


@pytest.mark.parametrize("overrides,message", [
    ({"articulated_prob": 1.2}, r"articulated_prob: must be in \[0, 1\]"),
    ({"articulated_prob": -0.1}, r"articulated_prob: must be in \[0, 1\]"),
    ({"articulated_prob": "0.3"}, "articulated_prob: expected a number, got str"),
    ({"articulated_swing": 2.0}, r"articulated_swing: radians in \[0, 1.5\]"),
    ({"articulated_swing": -0.1}, r"articulated_swing: radians in \[0, 1.5\]"),
    ({"articulated_swing": True}, "articulated_swing: expected a number, got bool"),
    ({"articulated_speed": (0.4, 0.1)}, r"articulated_speed: need \(lo, hi\)"),
    ({"articulated_speed": (0.1, 2.0)}, "articulated_speed: at most 1 rad per frame"),
    ({"articulated_speed": 0.3}, "articulated_speed: expected a list of numbers"),
    ({"polygon_nonconvex": 1.5}, r"polygon_nonconvex: must be in \[0, 1\]"),
    ({"polygon_nonconvex": None}, "polygon_nonconvex: expected a number, got NoneType"),
    ({"polygon_sides": (3, 3)}, "polygon_nonconvex: 0.5 needs polygons of 4 or more sides"),
])
def test_the_shape_fields_of_issue_13_are_validated_with_a_clear_message(overrides, message):
    with pytest.raises(ValueError, match=message):
        SceneConfig(**overrides)


def test_triangles_only_are_fine_when_no_polygon_is_drawn_non_convex():
    assert SceneConfig(polygon_sides=(3, 3), polygon_nonconvex=0.0).polygon_sides == (3, 3)
@pytest.mark.parametrize("field,value,words", [
    ("static_spell_prob", 1.2, "static_spell_prob: must be in [0, 1]"),
    ("static_spell_prob", -0.1, "static_spell_prob: must be in [0, 1]"),
    ("enter_exit_prob", 2.0, "enter_exit_prob: must be in [0, 1]"),
    ("full_occlusion_prob", -1.0, "full_occlusion_prob: must be in [0, 1]"),
    ("static_spell_frames", (0.0, 4.0), "static_spell_frames: durations must be > 0"),
    ("static_spell_frames", (8.0, 4.0), "static_spell_frames: need (lo, hi)"),
    ("full_occlusion_frames", (0.0, 3.0), "full_occlusion_frames: durations must be > 0"),
    ("full_occlusion_frames", (5.0,), "full_occlusion_frames: need (lo, hi)"),
    ("static_ramp", 0.0, "static_ramp: must be in (0, 10]"),
    ("static_ramp", 11.0, "static_ramp: must be in (0, 10]"),
    ("static_ramp", "2", "static_ramp: expected a number, got str"),
    ("enter_exit_prob", True, "enter_exit_prob: expected a number, got bool"),
])
def test_invalid_event_fields_raise_value_error_saying_what_is_allowed(field, value, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        SceneConfig(**{field: value})


def test_a_spell_and_a_crossing_share_one_object_so_their_rates_sum_to_at_most_one():
    SceneConfig(static_spell_prob=0.6, enter_exit_prob=0.4)
    with pytest.raises(ValueError, match=r"static_spell_prob \+ enter_exit_prob: at most 1"):
        SceneConfig(static_spell_prob=0.7, enter_exit_prob=0.4)


def test_the_syn_val_splits_differ_from_oclr_only_in_their_event_rates():
    oclr = SceneConfig.preset("oclr").to_dict()
    for name, want in [("syn-val-static", (1.0, 0.0, 0.0)), ("syn-val-occluded", (0.0, 0.0, 1.0))]:
        cfg = SceneConfig.preset(name)
        assert (cfg.static_spell_prob, cfg.enter_exit_prob, cfg.full_occlusion_prob) == want
        diff = {k for k, v in cfg.to_dict().items() if oclr[k] != v}
        assert diff <= {"static_spell_prob", "enter_exit_prob", "full_occlusion_prob"}


def test_the_articulated_split_has_only_articulated_bodies_and_no_events():
    cfg = SceneConfig.preset("syn-val-articulated")
    assert cfg.articulated_prob == 1.0
    assert (cfg.static_spell_prob, cfg.enter_exit_prob, cfg.full_occlusion_prob) == (0, 0, 0)
    oclr = SceneConfig.preset("oclr").to_dict()
    diff = {k for k, v in cfg.to_dict().items() if oclr[k] != v}
    assert diff == {"articulated_prob", "static_spell_prob", "enter_exit_prob",
                    "full_occlusion_prob"}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_round_trips_through_json_exactly(name):
    cfg = SceneConfig.preset(name, occlusion=(0.1, 0.35))
    back = SceneConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg
    assert isinstance(back.objects, tuple) and isinstance(back.occlusion, tuple)


def test_from_dict_refuses_unknown_fields():
    with pytest.raises(ValueError, match="colour"):
        SceneConfig.from_dict({**SceneConfig().to_dict(), "colour": 1})


def test_lists_and_numpy_numbers_are_normalised_so_configs_compare_and_hash():
    cfg = SceneConfig.preset("tiny", objects=[np.int64(2), 3], occlusion=[0, 0.5],
                             frames=np.int64(5))
    assert cfg == SceneConfig.preset("tiny", objects=(2, 3), occlusion=(0.0, 0.5), frames=5)
    assert hash(cfg) == hash(SceneConfig.preset("tiny", objects=(2, 3), occlusion=(0.0, 0.5),
                                                frames=5))
    assert type(cfg.frames) is int and type(cfg.occlusion[0]) is float


@pytest.mark.parametrize("field,value", [("objects", (1.5,)), ("frames", "3"),
                                         ("photometric", 1), ("occlusion", 0.3)])
def test_values_of_the_wrong_type_raise_value_error_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        SceneConfig(**{field: value})


@pytest.mark.parametrize("field, value, words", [
    ("frames", "4", "frames: expected an integer, got str '4'"),
    ("frames", None, "frames: expected an integer, got NoneType None"),
    ("height", 1.5, "height: expected an integer, got float 1.5"),
    ("objects", 3, "objects: expected a list of integers, got int 3"),
    ("objects", "123", "objects: expected a list of integers, got str '123'"),
    ("photometric", "yes", "photometric: expected true or false, got str 'yes'"),
])
def test_from_dict_names_the_field_and_the_type_it_holds(field, value, words):
    stored = dict(SceneConfig.preset("tiny").to_dict(), **{field: value})
    with pytest.raises(ValueError) as caught:
        SceneConfig.from_dict(stored)
    assert str(caught.value) == words


def test_from_dict_refuses_what_is_not_an_object_of_fields():
    with pytest.raises(ValueError, match="SceneConfig: expected an object of fields, got list"):
        SceneConfig.from_dict([30, 128, 224])


# Issue 13 part (2), background depth: every new field refused out of range or of the wrong type.
@pytest.mark.parametrize("field, value, message", [
    ("parallax_prob", 1.5, "parallax_prob: must be in"),
    ("ground_prob", -0.1, "ground_prob: must be in"),
    ("fast_pan_prob", 2.0, "fast_pan_prob: must be in"),
    ("shake_prob", -1.0, "shake_prob: must be in"),
    ("near_planes", (0, 2), "near_planes: need 1 <= lo <= hi <= 4"),
    ("near_planes", (3, 2), "near_planes: need 1 <= lo <= hi <= 4"),
    ("near_planes", (1, 5), "near_planes: need 1 <= lo <= hi <= 4"),
    ("near_planes", (1.0, 2), "near_planes: expected an integer"),
    ("parallax", (0.8, 2.0), "parallax: need 1 <= lo <= hi <= 10"),
    ("parallax", (2.0, 1.5), "parallax: need"),
    ("occluder_parallax", (1.0, 20.0), "occluder_parallax: need 1 <= lo <= hi <= 10"),
    ("camera_accel", -0.001, "camera_accel: must be in"),
    ("camera_accel", 0.5, "camera_accel: must be in"),
    ("fast_pan_speed", (0.01, 0.5), "fast_pan_speed: at most 0.2"),
    ("fast_pan_speed", (0.05, 0.01), "fast_pan_speed: need"),
    ("shake_amplitude", 0.2, "shake_amplitude: must be in"),
    ("shake_freq", (0.5, 4.0), "shake_freq: at most pi"),
    ("shake_freq", "fast", "shake_freq: expected a list"),
    ("shake_prob", "yes", "shake_prob: expected a number"),
])
def test_background_depth_fields_are_validated(field, value, message):
    with pytest.raises(ValueError, match=message):
        SceneConfig(**{field: value})


def test_background_depth_defaults_round_trip_and_are_valid():
    cfg = SceneConfig.preset("oclr", near_planes=[1, 3], shake_freq=[0.5, 1.0])
    assert cfg.near_planes == (1, 3) and SceneConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("overrides, message", [
    ({"time_step": 0.0}, "time_step: nominal frames per frame in (0, 4], got 0.0"),
    ({"time_step": -0.5}, "time_step: nominal frames per frame in (0, 4], got -0.5"),
    ({"time_step": float("nan")}, "time_step: nominal frames per frame in (0, 4], got nan"),
    ({"time_step": 8.0}, "time_step: nominal frames per frame in (0, 4], got 8.0"),
    ({"gaps": ()}, "gaps: positive frame gaps like 1,2, got none"),
    ({"gaps": (0,)}, "gaps: positive frame gaps like 1,2, got 0"),
    ({"gaps": (1, -2)}, "gaps: positive frame gaps like 1,2, got 1,-2"),
    ({"gaps": (2, 2)}, "gaps: each gap once, got 2,2"),
    ({"gaps": (2, 3)}, "gaps: must include 1 (the flow every reader takes), got 2,3"),
    ({"gaps": (1, 8), "frames": 8}, "gaps: each gap below the clip's 8 frames, got 1,8"),
    ({"gaps": (1, 2), "frames": 2}, "gaps: each gap below the clip's 2 frames, got 1,2"),
])
def test_time_step_and_gaps_are_validated_naming_the_field(overrides, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        SceneConfig.preset("tiny", **overrides)


def test_gaps_are_kept_ascending_and_one_is_allowed_on_a_one_frame_clip():
    assert SceneConfig.preset("tiny", gaps=[3, 1, 2]).gaps == (1, 2, 3)
    assert SceneConfig.preset("tiny", frames=1).gaps == (1,)
    assert SceneConfig.preset("tiny", frames=3, gaps=(1, 2)).gaps == (1, 2)


def test_the_duration_counts_nominal_frames_whatever_the_time_step():
    coarse = SceneConfig.preset("oclr")
    fine = SceneConfig.preset("oclr", frames=59, time_step=0.5)
    assert coarse.duration == fine.duration == 29.0 and coarse.reach == fine.reach == 15.5
    assert SceneConfig.from_dict(json.loads(json.dumps(fine.to_dict()))) == fine
