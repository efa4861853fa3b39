"""Where a training run goes and what starting or resuming it takes (oclr.runfolder)."""

from pathlib import Path

import pytest
from layersynth.errors import InputError
from oclr.runfolder import RunRequest, check_overrides, run_files, run_folder, train_config


def test_the_run_folder_is_the_one_given_else_runs_preset():
    assert run_folder(RunRequest(shards="s", out="elsewhere")) == Path("elsewhere")
    assert run_folder(RunRequest(shards="s", preset="tiny")) == Path("runs/tiny")
    assert run_folder(RunRequest(shards="s")) == Path("runs/oclr")


def test_a_fresh_request_becomes_a_train_config_with_what_was_given(shards, tmp_path):
    cfg = train_config(RunRequest(shards=str(shards), out=str(tmp_path / "r"), preset="tiny",
                                  steps=7, loss={"dice_weight": 0.5}, bf16=True, workers=0))
    assert (cfg.out, cfg.preset, cfg.steps, cfg.bf16, cfg.resume) == (
        str(tmp_path / "r"), "tiny", 7, True, False)
    assert cfg.loss == {"dice_weight": 0.5} and cfg.batch == 2  # the rest: TrainConfig's defaults


def test_any_run_file_marks_a_folder_as_holding_a_run(tmp_path):
    assert run_files(tmp_path) == []
    (tmp_path / "metrics.jsonl").write_text("")
    (tmp_path / "config.json").write_text("{}")
    assert run_files(tmp_path) == ["config.json", "metrics.jsonl"]
    with pytest.raises(InputError, match="--resume .* another --out"):
        train_config(RunRequest(shards="s", out=str(tmp_path)))


def test_a_dataset_folder_without_a_manifest_is_named(shards, tmp_path):
    with pytest.raises(InputError, match=f"{tmp_path / 'val'}: not a layersynth dataset"):
        train_config(RunRequest(shards=str(shards), out=str(tmp_path / "r"),
                                val_shards=str(tmp_path / "val")))


@pytest.mark.parametrize("model, loss, message", [
    ({"frames": "x"}, None, '--model frames="x": expected a finite number'),
    ({"heads": 3}, None, r"--model heads=3: d_model \(128\) must be divisible by heads"),
    ({"dropout": True}, None, "--model dropout=true: expected a finite number"),
    (None, {"order_tau": 0}, "--loss order_tau=0: "),
    (None, {"weight": 1}, r"--loss: unknown LossConfig field\(s\) \['weight'\]"),
])
def test_overrides_that_cannot_make_a_config_name_their_option(model, loss, message):
    with pytest.raises(InputError, match=message):
        check_overrides("tiny", model, loss)


def test_overrides_that_fit_the_preset_pass():
    check_overrides("tiny", {"frames": 4, "cnn_channels": [8, 16, 32]}, {"dice_weight": 0})
