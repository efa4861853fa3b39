import json
import sys
from pathlib import Path

import pytest
import torch
from fakeshards import with_flows
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


# --- the flow a run trains on when --flow is not given, and --init -------------------------------


@pytest.fixture(scope="module")
def flow_sets(shards, tmp_path_factory):
    root = tmp_path_factory.mktemp("flows")
    return {"raft+dis": with_flows(shards, root / "raft-dis", ("raft", "dis")),
            "dis": with_flows(shards, root / "dis", ("dis",))}


def trained_flow(run: Path) -> str:
    return read_checkpoint(run / "last.pt")["train_config"]["flow"]


@pytest.mark.parametrize("held, chosen", [("raft+dis", "raft"), ("dis", "dis")])
def test_without_flow_the_run_takes_the_best_estimated_flow_and_says_which(
        flow_sets, tmp_path, capsys, held, chosen):
    run = tmp_path / "run"
    assert cli_train.main(args(flow_sets[held], run, "--steps", "1")) == 0
    err = capsys.readouterr().err
    assert f"oclr-train: training on the '{chosen}' flow, the best estimated flow" in err
    assert "warning" not in err and trained_flow(run) == chosen


def test_on_ground_truth_only_shards_the_run_trains_on_it_with_a_warning_naming_dis(
        shards, tmp_path, capsys):
    run = tmp_path / "run"
    assert cli_train.main(args(shards, run, "--steps", "1")) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "real video only ever gives estimated flow" in warnings[0]
    assert f"layersynth flow {shards} --method dis" in warnings[0]
    assert trained_flow(run) == "gt"


def test_flow_gt_asked_for_trains_on_ground_truth_without_a_warning(flow_sets, tmp_path, capsys):
    run = tmp_path / "run"
    assert cli_train.main(args(flow_sets["raft+dis"], run, "--steps", "1", "--flow", "gt")) == 0
    assert "warning" not in capsys.readouterr().err and trained_flow(run) == "gt"


def test_the_default_flow_is_one_the_validation_set_holds_too(flow_sets, tmp_path, capsys):
    run = tmp_path / "run"
    code = cli_train.main(args(flow_sets["raft+dis"], run, "--steps", "1", "--val-shards",
                               str(flow_sets["dis"])))
    assert code == 0 and trained_flow(run) == "dis"


def test_an_asked_for_flow_the_shards_lack_is_refused_saying_how_to_add_it(
        flow_sets, tmp_path, capsys):
    line = one_error_line(capsys, cli_train.main(args(flow_sets["dis"], tmp_path / "r", "--flow",
                                                      "raft")))
    assert f"{flow_sets['dis']}: no 'raft' flow in this dataset (it has: dis, gt)" in line
    assert "--method raft" in line and not (tmp_path / "r").exists()


def test_a_resumed_run_keeps_its_flow_when_flow_is_not_given(flow_sets, shards, tmp_path, capsys):
    run = tmp_path / "run"
    assert cli_train.main(args(flow_sets["raft+dis"], run, "--steps", "1", "--flow", "gt")) == 0
    assert cli_train.main(args(flow_sets["raft+dis"], run, "--steps", "2", "--resume")) == 0
    assert trained_flow(run) == "gt" and "training on" not in capsys.readouterr().err


def _weights(path: Path) -> dict:
    return read_checkpoint(path)["model"]


def test_init_from_an_oclr_checkpoint_starts_a_fresh_run_from_its_weights(
        shards, tmp_path, capsys):
    first = tmp_path / "first"
    assert cli_train.main(args(shards, first, "--steps", "2", "--seed", "1")) == 0
    second = tmp_path / "second"
    code = cli_train.main(args(shards, second, "--steps", "1", "--seed", "2", "--lr", "1e-12",
                               "--init", str(first / "last.pt")))
    assert code == 0
    assert f"starting from the weights of {first / 'last.pt'} (an oclr checkpoint)" in \
        capsys.readouterr().err
    state = read_checkpoint(second / "last.pt")
    assert state["step"] == 1 and state["train_config"]["init"] == str(first / "last.pt")
    start, now = _weights(first / "last.pt"), state["model"]
    assert all(torch.allclose(now[k], v, atol=1e-6) for k, v in start.items())
    fresh = tmp_path / "fresh"  # the same seed without --init: other weights
    assert cli_train.main(args(shards, fresh, "--steps", "1", "--seed", "2", "--lr", "1e-12")) == 0
    assert not torch.allclose(_weights(fresh / "last.pt")["queries"], start["queries"])


def test_init_adds_a_fresh_objectness_head_to_a_network_without_one(shards, tmp_path):
    first = tmp_path / "first"
    assert cli_train.main(args(shards, first, "--steps", "1", "--seed", "1")) == 0
    second = tmp_path / "second"
    assert cli_train.main(args(shards, second, "--steps", "1", "--lr", "1e-12", "--init",
                               str(first / "last.pt"), "--model", "objectness=true")) == 0
    start, now = _weights(first / "last.pt"), _weights(second / "last.pt")
    assert all(torch.allclose(now[k], v, atol=1e-6) for k, v in start.items())
    assert {k for k in now if k not in start} == {k for k in now if k.startswith("objectness_")}
    assert len(now) > len(start)


def small_reference_checkpoint(path: Path, seed: int) -> Path:
    """A reference-format checkpoint of a network with the SMALL sizes."""
    from oclr.model import build_model
    from oclr.reference_weights import to_reference
    from refckpt import write_reference_checkpoint

    torch.manual_seed(seed)
    sizes = dict(cli_train.field_value(m) for m in SMALL)
    model = build_model("tiny", **sizes, norm="reference", map_scale=1.0)
    return write_reference_checkpoint(path, to_reference(model))


def test_init_from_a_reference_checkpoint_trains_its_network_with_the_reference_settings(
        shards, tmp_path, capsys):
    ref = small_reference_checkpoint(tmp_path / "ref.pth", seed=4)
    run = tmp_path / "run"
    code = cli_train.main(args(shards, run, "--steps", "1", "--lr", "1e-12", "--init", str(ref)))
    assert code == 0
    assert "(the reference code's checkpoint)" in capsys.readouterr().err
    state = read_checkpoint(run / "last.pt")
    assert state["model_config"]["norm"] == "reference"
    assert state["model_config"]["map_scale"] == 1.0
    assert state["model_config"]["frames"] == 4  # --model frames=4 over the reference's 30
    stored = torch.load(ref, weights_only=True)["model_state_dict"]
    assert torch.allclose(state["model"]["queries"], stored["transformer_dec.motion_embed.weight"],
                          atol=1e-6)
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["init"] == str(ref) and config["model"]["norm"] == "reference"


@pytest.mark.parametrize("make, extra, needle", [
    (lambda p: torch.save({"state_dict": {}}, p), [], "not an oclr checkpoint"),
    (lambda p: p.write_bytes(b"junk"), [], "not a torch checkpoint file"),
    (lambda p: small_reference_checkpoint(p, 0), ["--model", "d_model=16"],
     "its weights do not fit the network --model asks for: "),
    (lambda p: small_reference_checkpoint(p, 0), ["--resume"], "a resumed run continues"),
])
def test_init_with_a_file_that_cannot_start_the_run_is_one_line_and_writes_nothing(
        shards, tmp_path, capsys, make, extra, needle):
    bad = tmp_path / "bad.pt"
    make(bad)
    line = one_error_line(capsys, cli_train.main(args(shards, tmp_path / "r", "--init", str(bad),
                                                      *extra)))
    assert f"--init {bad}" in line or f"{bad}:" in line
    assert needle in line and not (tmp_path / "r").exists()
