"""The settings and checks oclr-infer and the benchmark runners share (oclr.realvideo)."""

import oclr
import pytest
from layersynth.errors import InputError
from oclr.checkpoint import save_checkpoint
from oclr.config import ModelConfig
from oclr.realvideo import FlowSettings, check_windows, load_model_or_input_error, stage

TINY = ModelConfig.preset("tiny")


def test_flow_settings_give_flow_at_the_model_input_size_on_the_run_device():
    spec = FlowSettings(flow_width=448).spec(TINY, "cuda:1")
    assert (spec.method, spec.height, spec.width) == ("dis", TINY.height, TINY.width)
    assert (spec.flow_width, spec.device) == (448, "cuda:1")


def test_a_flow_width_too_small_or_missing_raft_weights_name_their_option(tmp_path):
    with pytest.raises(InputError, match="--flow-width 4: "):
        FlowSettings(flow_width=4).spec(TINY, "cpu")
    with pytest.raises(InputError, match="--raft-weights .*nope.pt: no such file"):
        FlowSettings(method="raft", raft_weights=str(tmp_path / "nope.pt")).spec(TINY, "cpu")


def test_an_unknown_flow_method_is_refused_when_the_settings_are_made():
    with pytest.raises(ValueError, match="flow method"):
        FlowSettings(method="farneback")


def test_the_cache_folder_is_the_one_given_the_default_or_none(tmp_path, monkeypatch):
    monkeypatch.setenv("OCLR_FLOW_CACHE", str(tmp_path / "env"))
    assert FlowSettings(cache=str(tmp_path / "mine")).cache_dir() == tmp_path / "mine"
    assert FlowSettings().cache_dir() == tmp_path / "env"
    assert FlowSettings(cache=str(tmp_path / "mine"), use_cache=False).cache_dir() is None


def test_a_path_that_is_not_a_checkpoint_is_an_input_error_naming_it(tmp_path):
    with pytest.raises(InputError, match="none.pt"):
        load_model_or_input_error(tmp_path / "none.pt", "cpu")
    model = oclr.build_model("tiny")
    path = tmp_path / "tiny.pt"
    save_checkpoint({"model": model.state_dict(), "model_config": model.cfg.to_dict()}, path)
    assert load_model_or_input_error(path, "cpu").cfg == model.cfg


@pytest.mark.parametrize("batch, overlap", [(0, None), (1, -1), (1, TINY.frames)])
def test_window_settings_outside_the_model_window_are_refused(batch, overlap):
    model = oclr.build_model("tiny")
    with pytest.raises(InputError, match=rf"--overlap in \[0, {TINY.frames}\)"):
        check_windows(model, batch, overlap)
    check_windows(model, 2, TINY.frames - 1)


def test_a_stage_passes_its_description_to_the_progress_wrapper():
    seen = []
    wrapped = stage(lambda items, total, desc: seen.append((total, desc)) or items, "windows")
    assert list(wrapped([1, 2], 2)) == [1, 2] and seen == [(2, "windows")]
    assert stage(None, "windows") is None
