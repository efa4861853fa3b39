"""Tests of oclr.config.ModelConfig: presets, validation, round trip."""

import dataclasses
import json

import pytest
from oclr.config import PRESETS, ModelConfig


def test_oclr_preset_holds_the_papers_sizes():
    cfg = ModelConfig.preset("oclr")
    assert (cfg.frames, cfg.num_objects, cfg.in_channels) == (30, 3, 4)
    assert (cfg.height, cfg.width) == (128, 224)
    assert cfg.cnn_channels == (32, 64, 128, 256, 512) and cfg.stride == 16
    assert (cfg.d_model, cfg.heads, cfg.ffn_dim) == (512, 8, 512)
    assert (cfg.encoder_layers, cfg.decoder_layers, cfg.dropout) == (3, 3, 0.1)


def test_tiny_preset_takes_eight_frames_of_64_by_112():
    cfg = ModelConfig.preset("tiny")
    assert (cfg.frames, cfg.height, cfg.width) == (8, 64, 112)
    assert cfg.height % 16 == 0 and cfg.width % 16 == 0


def test_preset_overrides_replace_fields_and_leave_the_preset_itself_unchanged():
    cfg = ModelConfig.preset("oclr", frames=8, dropout=0.0)
    assert cfg.frames == 8 and cfg.dropout == 0.0
    assert PRESETS["oclr"].frames == 30


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ModelConfig().frames = 3


@pytest.mark.parametrize("overrides, message", [
    ({"d_model": 100, "heads": 8}, "divisible by heads"),
    ({"height": 120}, "divisible by the CNN stride 16"),
    ({"num_objects": 0}, "num_objects must be a positive integer"),
    ({"dropout": 1.0}, "dropout"),
    ({"cnn_channels": (32,)}, "cnn_channels"),
])
def test_invalid_sizes_are_refused_when_the_config_is_built(overrides, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig.preset("oclr", **overrides)


def test_unknown_preset_and_unknown_field_are_refused_by_name():
    with pytest.raises(ValueError, match="unknown model preset 'big'"):
        ModelConfig.preset("big")
    with pytest.raises(TypeError, match="n_queries"):
        ModelConfig.preset("oclr", n_queries=3)
    with pytest.raises(TypeError, match="colour"):
        ModelConfig.from_dict({**ModelConfig().to_dict(), "colour": 1})


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_config_survives_a_json_round_trip(name):
    cfg = ModelConfig.preset(name)
    again = ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and isinstance(again.cnn_channels, tuple)


def test_the_order_head_is_global_in_both_presets_and_only_the_named_heads():
    assert PRESETS["oclr"].order_head == PRESETS["tiny"].order_head == "global"
    assert ModelConfig.preset("tiny", order_head="frame").order_head == "frame"
    named = ("order_head must be one of \\['global', 'frame', 'visible', 'occlusion', "
             "'occlusion_frame'\\]")
    with pytest.raises(ValueError, match=named):
        ModelConfig.preset("tiny", order_head="pixel")


def test_a_config_saved_before_the_order_head_option_reads_as_the_global_head():
    saved = ModelConfig.preset("tiny").to_dict()
    del saved["order_head"]
    assert ModelConfig.from_dict(saved).order_head == "global"
