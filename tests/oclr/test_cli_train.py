import json
import sys
from pathlib import Path

from oclr import cli_train
from oclr.checkpoint import read_checkpoint

BIN = Path(sys.executable).parent
SMALL = ["frames=4", "height=32", "width=48", "cnn_channels=[8,16,32]", "d_model=32", "heads=2",
         "ffn_dim=32"]


def args(shards, out, *extra):
    model = [a for m in SMALL for a in ("--model", m)]
    return ["--shards", str(shards), "--out", str(out), "--preset", "tiny", *model, "--batch", "2",
            "--workers", "0", *extra]


def test_training_from_the_command_line_prints_a_summary_and_resumes(shards, tmp_path, capsys):
    run = tmp_path / "run"
    assert cli_train.main(args(shards, run, "--steps", "3", "--val-shards", str(shards))) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["step"] == 3 and 0 <= summary["val"]["amodal_j"] <= 1
    assert set(summary["val"]["by_objects"]) <= {"1", "2", "3"}
    assert cli_train.main(args(shards, run, "--steps", "5", "--resume")) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["step"] == 5
    ckpt = read_checkpoint(run / "last.pt")
    assert ckpt["step"] == 5 and ckpt["train_config"]["val_shards"] == str(shards)


def test_bf16_on_the_command_line_reaches_the_run_settings(shards, tmp_path, capsys):
    run = tmp_path / "run"
    assert cli_train.main(args(shards, run, "--steps", "1", "--bf16", "on")) == 0
    assert read_checkpoint(run / "last.pt")["train_config"]["bf16"] is True
    assert cli_train.main(args(shards, run, "--steps", "2", "--resume")) == 0
    assert read_checkpoint(run / "last.pt")["train_config"]["bf16"] is None  # auto again


def one_error_line(capsys, code):
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("oclr-train: error: ")
    return err[0]


def test_a_missing_dataset_folder_is_one_line_naming_it(tmp_path, capsys):
    line = one_error_line(capsys, cli_train.main(args(tmp_path / "nope", tmp_path / "run")))
    assert "nope" in line and "manifest.json" in line


def test_asking_for_a_flow_the_shards_lack_names_the_folder(shards, tmp_path, capsys):
    line = one_error_line(capsys, cli_train.main(args(shards, tmp_path / "r", "--flow", "raft")))
    assert str(shards) in line and "no 'raft' flow" in line


def test_an_existing_run_is_not_overwritten_and_a_resume_keeps_its_settings(
        shards, tmp_path, capsys):
    run = tmp_path / "run"
    assert cli_train.main(args(shards, run, "--steps", "1")) == 0
    capsys.readouterr()
    assert "--resume" in one_error_line(capsys, cli_train.main(args(shards, run, "--steps", "2")))
    line = one_error_line(capsys, cli_train.main(args(shards, run, "--resume", "--lr", "0.5")))
    assert "--lr 0.5 differs" in line
    line = one_error_line(capsys, cli_train.main(args(shards, tmp_path / "new", "--resume")))
    assert "no checkpoint to resume from" in line


def test_bad_model_overrides_and_options_are_one_line(shards, tmp_path, capsys):
    code = cli_train.main(args(shards, tmp_path / "r", "--model", "wings=2"))
    line = one_error_line(capsys, code)
    assert "wings" in line
    line = one_error_line(capsys, cli_train.main(args(shards, tmp_path / "r", "--steps", "0")))
    assert "steps" in line
    line = one_error_line(capsys, cli_train.main(args(shards, tmp_path / "r", "--device", "gpu")))
    assert "--device gpu" in line


def test_model_and_loss_overrides_read_numbers_and_lists_as_json():
    assert cli_train.field_value("frames=15") == ("frames", 15)
    assert cli_train.field_value("cnn_channels=[8,16]") == ("cnn_channels", [8, 16])
    assert cli_train.field_value("note=abc") == ("note", "abc")


def test_loss_overrides_reach_the_run_and_a_resume_cannot_change_them(shards, tmp_path, capsys):
    run = tmp_path / "run"
    assert cli_train.main(args(shards, run, "--steps", "1", "--loss", "dice_weight=0.5")) == 0
    stored = read_checkpoint(run / "last.pt")["train_config"]["loss"]
    assert stored["dice_weight"] == 0.5 and stored["boundary_weight"] == 0.2  # the rest: defaults
    assert cli_train.main(args(shards, run, "--steps", "2", "--resume",
                               "--loss", "dice_weight=0.5")) == 0  # restating is fine
    capsys.readouterr()
    line = one_error_line(capsys, cli_train.main(args(shards, run, "--steps", "3", "--resume",
                                                      "--loss", "dice_weight=1")))
    assert "--loss" in line and "differs" in line
    line = one_error_line(capsys, cli_train.main(args(shards, tmp_path / "new",
                                                      "--loss", "wings=1")))
    assert "wings" in line
