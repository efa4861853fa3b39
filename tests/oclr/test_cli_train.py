import json
import sys
from pathlib import Path

import pytest
from oclr import cli_train
from oclr.checkpoint import read_checkpoint
from oclrrun import imports_torch, invoke, script

BIN = Path(sys.executable).parent
PROG = "oclr-train"
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


def small_args(shards, *extra):
    """The tiny preset at 32 x 48 for a step or two, without --out."""
    model = [a for m in SMALL for a in ("--model", m)]
    return ["--shards", str(shards), "--preset", "tiny", *model, "--batch", "2", "--workers", "0",
            *extra]


def test_without_out_the_run_goes_to_runs_preset_and_the_folder_is_announced(
        shards, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli_train.main(small_args(shards, "--steps", "1")) == 0
    captured = capsys.readouterr()
    assert "oclr-train: writing the run to runs/tiny" in captured.err.splitlines()
    assert json.loads(captured.out.strip().splitlines()[-1])["out"] == "runs/tiny"
    assert (tmp_path / "runs" / "tiny" / "last.pt").is_file()
    assert cli_train.main(small_args(shards, "--steps", "2", "--resume")) == 0
    assert "oclr-train: continuing the run in runs/tiny" in capsys.readouterr().err.splitlines()
    assert read_checkpoint(tmp_path / "runs" / "tiny" / "last.pt")["step"] == 2


@pytest.mark.parametrize("left", ["config.json", "last.pt", "metrics.jsonl"])
def test_a_fresh_run_into_a_folder_holding_any_run_file_is_refused_and_leaves_it(
        shards, tmp_path, capsys, left):
    run = tmp_path / "run"
    run.mkdir()
    (run / left).write_text("kept")
    line = one_error_line(capsys, cli_train.main(args(shards, run, "--steps", "1")))
    assert str(run) in line and left in line and "--resume" in line and "--out" in line
    assert [p.name for p in run.iterdir()] == [left] and (run / left).read_text() == "kept"


def test_resume_into_the_default_folder_with_no_run_there_names_its_checkpoint(
        shards, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    line = one_error_line(capsys, cli_train.main(small_args(shards, "--resume")))
    assert "runs/tiny/last.pt: no checkpoint to resume from" in line
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("option, value, message", [
    ("--model", "frames=abc", 'frames="abc": expected a finite number'),
    ("--model", "frames=0", "frames must be a positive integer, got 0"),
    ("--model", "wings=2", "unknown ModelConfig field(s) ['wings']"),
    ("--loss", "dice_weight=-1", "dice_weight=-1: loss weights must be >= 0"),
    ("--loss", "wings=1", "unknown LossConfig field(s) ['wings']"),
    ("--model", "frames", "Invalid value for '--model': expected FIELD=VALUE, got 'frames'"),
])
def test_a_bad_override_value_is_one_line_naming_its_option(shards, tmp_path, capsys, option,
                                                              value, message):
    line = one_error_line(capsys, cli_train.main(args(shards, tmp_path / "r", option, value)))
    assert option in line and message in line
    assert not (tmp_path / "r").exists()


def test_help_keeps_every_option_its_metavar_and_text():
    ran = invoke(cli_train.command, "--help")
    assert ran.code == 0
    text = " ".join(ran.out.split())
    for shown in ("--shards SHARDS training set folder (layersynth generate)",
                  "--out OUT run folder: checkpoints, metrics, config (default runs/<preset>;",
                  "--model FIELD=VALUE override a field of the preset's ModelConfig",
                  "--halve-every HALVE_EVERY", "--bf16 {auto,on,off}", "--flow {gt,raft,dis}",
                  "--resume continue from RUN/last.pt", "--json JSON"):
        assert shown in text


def test_click_rejects_a_bad_number_naming_the_option_before_any_work(tmp_path):
    ran = invoke(cli_train.command, "--shards", tmp_path, "--steps", "many")
    assert ran.code == 2 and "'--steps'" in ran.err and "'many'" in ran.err


def test_the_console_script_refuses_a_missing_dataset_in_one_line(tmp_path):
    ran = script("oclr-train", "--shards", "nope", cwd=tmp_path)
    assert "nope: not a layersynth dataset folder (no manifest.json)" in ran.error_line(PROG)
    assert not (tmp_path / "runs").exists()


def test_the_console_script_names_the_option_of_a_bad_override(shards, tmp_path):
    ran = script("oclr-train", "--shards", shards, "--preset", "tiny", "--loss", "order_tau=0",
                 cwd=tmp_path)
    assert "--loss order_tau=0: " in ran.error_line(PROG)
    ran = script("oclr-train", "--shards", shards, "--out", tmp_path / "r", "--workers", "x")
    assert "'--workers'" in ran.error_line(PROG)


def test_the_console_script_without_shards_names_the_option(tmp_path):
    assert "'--shards'" in script("oclr-train", cwd=tmp_path).error_line(PROG)


def test_help_does_not_load_torch():
    assert not imports_torch("oclr.cli_train", "--help")
