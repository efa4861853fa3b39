import os

import pytest
import torch
from oclr import build_model
from oclr.checkpoint import (
    load_model,
    read_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)

SMALL = dict(frames=2, height=16, width=16, cnn_channels=(4, 8), d_model=8, heads=2, ffn_dim=8)


def test_a_saved_model_loads_back_with_the_same_outputs(tmp_path):
    model = build_model("tiny", **SMALL).eval()
    save_checkpoint({"model": model.state_dict(), "model_config": model.cfg.to_dict()},
                    tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt", "cpu")
    x = torch.randn(1, 2, 4, 16, 16)
    assert not loaded.training
    assert all(torch.equal(a, b) for a, b in zip(model(x), loaded(x), strict=True))


def test_saving_replaces_the_file_in_one_step_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint({"model": {}, "model_config": {}, "step": 1}, path)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        save_checkpoint({"model": {}, "model_config": {}, "step": 2}, path)
    assert read_checkpoint(path)["step"] == 1  # the old checkpoint survives a failed write


def test_a_file_that_is_not_a_checkpoint_is_named_in_the_error(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="bad.pt: not a readable checkpoint"):
        read_checkpoint(bad)
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt: not an oclr checkpoint"):
        read_checkpoint(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        read_checkpoint(tmp_path / "missing.pt")


def test_restoring_the_random_state_replays_the_same_draws():
    state = rng_state()
    a = torch.rand(3)
    set_rng_state(state)
    assert torch.equal(torch.rand(3), a)
