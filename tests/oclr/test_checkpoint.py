import errno
import os
import random
import re

import numpy as np
import oclr
import pytest
import torch
from hostile import damaged_files, format_1_checkpoint, plant_payload
from layersynth.errors import InputError
from oclr import build_model
from oclr.checkpoint import (
    CheckpointError,
    load_model,
    read_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
    upgrade_checkpoint,
)

SMALL = dict(frames=2, height=16, width=16, cnn_channels=(4, 8), d_model=8, heads=2, ffn_dim=8)


@pytest.fixture
def model():
    return build_model("tiny", **SMALL).eval()


def saved(model, path, **extra):
    return save_checkpoint({"model": model.state_dict(), "model_config": model.cfg.to_dict(),
                            **extra}, path)


def test_a_saved_model_loads_back_with_the_same_outputs(model, tmp_path):
    loaded = load_model(saved(model, tmp_path / "m.pt"), "cpu")
    x = torch.randn(1, 2, 4, 16, 16)
    assert not loaded.training
    assert all(torch.equal(a, b) for a, b in zip(model(x), loaded(x), strict=True))


def test_the_package_entry_point_loads_a_checkpoint_in_eval_mode(model, tmp_path):
    loaded = oclr.load_model(saved(model, tmp_path / "m.pt"))
    assert not loaded.training and loaded.cfg == model.cfg


def test_a_checkpoint_with_every_random_state_reads_back_with_weights_only(model, tmp_path):
    path = saved(model, tmp_path / "m.pt", rng=rng_state(), step=3)
    state = torch.load(path, weights_only=True)
    assert state["format"] == 2 and isinstance(state["rng"]["numpy"]["key"], torch.Tensor)


@pytest.mark.parametrize("failure", [OSError(errno.ENOSPC, "No space left on device"),
                                     PermissionError(errno.EACCES, "Permission denied")])
def test_a_failed_write_names_the_file_keeps_the_old_one_and_leaves_no_temporary(
        tmp_path, monkeypatch, failure):
    path = tmp_path / "last.pt"
    save_checkpoint({"model": {}, "model_config": {}, "step": 1}, path)

    def crash(*args, **kwargs):
        raise failure

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(CheckpointError, match=f"last.pt: cannot write the checkpoint: "
                                              f"{failure.strerror} \\(errno {failure.errno}\\)"):
        save_checkpoint({"model": {}, "model_config": {}, "step": 2}, path)
    assert read_checkpoint(path)["step"] == 1  # the old checkpoint survives a failed write
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


@pytest.mark.parametrize("kind, words", [
    ("empty", "empty file (0 bytes)"),
    ("truncated", "truncated: a torch checkpoint cut short at"),
    ("garbage", "not a torch checkpoint file (neither the zip archive"),
    ("pickle", "a plain pickle, not a torch checkpoint"),
])
def test_a_damaged_file_is_named_with_what_is_wrong_in_words(model, tmp_path, kind, words):
    bad = damaged_files(tmp_path / "bad", saved(model, tmp_path / "good.pt"))[kind]
    with pytest.raises(CheckpointError) as caught:
        read_checkpoint(bad)
    message = str(caught.value)
    assert message.startswith(f"{bad}: {words}") and "\n" not in message
    assert "miniz" not in message and not re.search(r"\(\d{6,}\)", message)  # torch's words


def test_a_file_that_is_not_ours_a_folder_or_nothing_is_named(tmp_path):
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="other.pt: not an oclr checkpoint"):
        read_checkpoint(tmp_path / "other.pt")
    torch.save({"iteration": 1, "model_state_dict": {}}, tmp_path / "ref.pt")
    with pytest.raises(CheckpointError, match="ref.pt: the reference code's checkpoint format"):
        read_checkpoint(tmp_path / "ref.pt")
    with pytest.raises(CheckpointError, match="missing.pt: no such checkpoint"):
        read_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="a folder, not a checkpoint file"):
        read_checkpoint(tmp_path)
    assert issubclass(CheckpointError, InputError)


def test_a_crafted_pickle_is_refused_without_running_its_code(tmp_path):
    marker = tmp_path / "ran"
    path = plant_payload(tmp_path / "evil.pt", marker)
    for read in (read_checkpoint, load_model, upgrade_checkpoint):
        with pytest.raises(CheckpointError, match="evil.pt: holds pickled Python objects "
                                                  r"\((io|builtins).open\).*not unpickled"):
            read(path)
    assert not marker.exists()


def test_an_older_oclr_checkpoint_is_refused_and_upgrading_it_keeps_its_state(model, tmp_path):
    old = format_1_checkpoint(tmp_path / "old.pt", model)
    with pytest.raises(CheckpointError, match="old.pt: written by an older oclr .*not unpickled"):
        read_checkpoint(old)
    stored = torch.load(old, weights_only=False)["rng"]  # the test trusts the file it wrote
    upgrade_checkpoint(old, tmp_path / "new.pt")
    state = read_checkpoint(tmp_path / "new.pt")
    set_rng_state(state["rng"])
    draws = np.random.rand(3), random.random()  # noqa: NPY002
    np.random.set_state(stored["numpy"])  # noqa: NPY002
    random.setstate(stored["python"])
    assert np.array_equal(draws[0], np.random.rand(3)) and draws[1] == random.random()  # noqa: NPY002
    assert torch.equal(state["model"]["queries"], model.state_dict()["queries"])


def test_a_newer_format_is_refused_naming_both_formats(tmp_path):
    torch.save({"format": 99, "model": {}, "model_config": {}}, tmp_path / "new.pt")
    with pytest.raises(CheckpointError, match="format 99, newer than this oclr's 2"):
        read_checkpoint(tmp_path / "new.pt")


def test_a_config_or_weights_that_do_not_make_the_network_name_the_file(model, tmp_path):
    bad_config = save_checkpoint({"model": model.state_dict(),
                                  "model_config": {**model.cfg.to_dict(), "wings": 2}},
                                 tmp_path / "config.pt")
    with pytest.raises(CheckpointError, match=r"config.pt: model_config: unknown ModelConfig "
                                              r"field\(s\) \['wings'\]"):
        load_model(bad_config)
    other = build_model("tiny", **{**SMALL, "d_model": 16})
    bad_weights = save_checkpoint({"model": other.state_dict(),
                                   "model_config": model.cfg.to_dict()}, tmp_path / "w.pt")
    with pytest.raises(CheckpointError, match="w.pt: the weights do not fit the network"):
        load_model(bad_weights)


def test_restoring_the_random_state_replays_the_same_draws():
    state = rng_state()
    a, b, c = torch.rand(3), np.random.rand(2), random.random()  # noqa: NPY002
    set_rng_state(state)
    assert torch.equal(torch.rand(3), a) and np.array_equal(np.random.rand(2), b)  # noqa: NPY002
    assert random.random() == c
