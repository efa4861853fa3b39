"""oclr-train under hostile input: every bad option, file or state is refused with exit status 2
and one stderr line naming it, no traceback, nothing half-written, and an earlier run as it was.

Most rows run `cli_train.main` in process (a subprocess costs ~4 s of torch import); a
representative few run the installed console script."""

import errno
import os
import shutil

import pytest
import torch
from hostile import (
    digest,
    folder_digests,
    format_1_checkpoint,
    plant_payload,
    refused,
    unwritable_folder,
)
from layersynth.store import folder_lock
from layersynth.store.schema import ShardError
from oclr import build_model, checkpoint, cli_train, data, engine
from oclr.checkpoint import read_checkpoint, save_checkpoint
from oclr.runfolder import RunRequest, hold_run, refuse_existing_run, train_config
from oclrrun import script

PROG = "oclr-train"
SMALL = ["frames=4", "height=32", "width=48", "cnn_channels=[8,16,32]", "d_model=32", "heads=2",
         "ffn_dim=32"]
MODEL = {"frames": 4, "height": 32, "width": 48, "cnn_channels": [8, 16, 32], "d_model": 32,
         "heads": 2, "ffn_dim": 32}


def args(shards, out, *extra):
    model = [a for m in SMALL for a in ("--model", m)]
    # ground truth asked for by name: the shards hold no estimated flow, and the warning that a
    # defaulted flow prints would stand beside the one line these tests read
    flow = [] if "--flow" in map(str, extra) else ["--flow", "gt"]
    return ["--shards", str(shards), "--out", str(out), "--preset", "tiny", *model, "--batch", "2",
            "--workers", "0", *flow, *map(str, extra)]


def run(capsys, argv):
    code = cli_train.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained(shards, tmp_path_factory):
    """A run of 2 steps: the earlier good data every refused resume must leave as it was."""
    folder = tmp_path_factory.mktemp("trained") / "run"
    assert cli_train.main(args(shards, folder, "--steps", "2")) == 0
    return folder


@pytest.fixture
def run_copy(trained, tmp_path):
    return shutil.copytree(trained, tmp_path / "run")


# (id, options after the common ones ({tmp}: the test's folder), what the line must hold)
FRESH = [
    ("ckpt-every", ["--ckpt-every", "-1"], "--ckpt-every -1: must be at least 1"),
    ("val-every", ["--val-every", "0"], "--val-every 0: must be at least 1"),
    ("keep-every", ["--keep-every", "0"], "--keep-every 0: must be at least 1"),
    ("val-limit", ["--val-limit", "0"], "--val-limit 0: must be at least 1"),
    ("time-budget", ["--time-budget", "-1"], "--time-budget -1: must be a finite number >= 0"),
    ("threads", ["--threads", "-1"], "--threads -1: must be at least 1"),
    ("workers", ["--workers", "-1"], "--workers -1: must be at least 0"),
    ("steps", ["--steps", "0"], "--steps 0: must be at least 1"),
    ("batch", ["--batch", "0"], "--batch 0: must be at least 1"),
    ("warmup", ["--warmup", "0"], "--warmup 0: must be at least 1"),
    ("lr-negative", ["--lr", "-1"], "--lr -1: must be a finite number > 0"),
    ("lr-nan", ["--lr", "nan"], "--lr nan: must be a finite number > 0"),
    ("seed", ["--seed", "-1"], "--seed -1: must be in 0..4294967295"),
    ("device-name", ["--device", "tpu9"], "--device tpu9: not a device name; this machine has cpu"),
    ("device-missing", ["--device", "cuda:7"], "--device cuda:7: "),
    ("model-field", ["--model", "wings=2"], "--model: unknown ModelConfig field(s) ['wings']"),
    ("model-inf", ["--model", "heads=1e400"], "--model heads=Infinity: expected a finite number"),
    ("model-nan", ["--model", "negative_slope=NaN"], "--model negative_slope=NaN: expected a "),
    ("model-type", ["--model", "cnn_channels=5"], "--model "),
    ("loss-fraction", ["--loss", "boundary_radius=2.5"], "--loss boundary_radius=2.5: expected an "
                                                         "integer"),
    ("loss-negative", ["--loss", "dice_weight=-1"], "--loss dice_weight=-1: loss weights must"),
    ("json-no-folder", ["--json", "{tmp}/nowhere/summary.json"], "--json {tmp}/nowhere/summary.json"
                                                                 ": no folder"),
    ("json-folder", ["--json", "{tmp}"], "--json {tmp}: a folder, not a file"),
    ("flow-absent", ["--flow", "raft"], "no 'raft' flow"),
    ("val-shards", ["--val-shards", "{tmp}"], "{tmp}: not a layersynth dataset folder"),
]


@pytest.mark.parametrize("extra, needle", [row[1:] for row in FRESH], ids=[r[0] for r in FRESH])
def test_a_bad_option_of_a_fresh_run_is_one_line_naming_it_and_makes_no_folder(
        shards, tmp_path, capsys, extra, needle):
    out = tmp_path / "run"
    extra = [a.format(tmp=tmp_path) for a in extra]
    line = refused(*run(capsys, args(shards, out, *extra)), PROG)
    assert needle.format(tmp=tmp_path) in line
    assert not out.exists()


def test_a_missing_dataset_or_an_out_that_is_a_file_names_it(tmp_path, shards, capsys):
    line = refused(*run(capsys, args(tmp_path / "none", tmp_path / "run")), PROG)
    assert "none: not a layersynth dataset folder" in line
    (tmp_path / "file").write_text("x")
    line = refused(*run(capsys, args(shards, tmp_path / "file")), PROG)
    assert line.endswith(f"--out {tmp_path / 'file'}: a file, not a folder")
    assert (tmp_path / "file").read_text() == "x"


def test_an_out_nobody_may_write_in_is_named_before_any_work(shards, tmp_path, capsys):
    out = unwritable_folder(tmp_path)
    line = refused(*run(capsys, args(shards, out, "--steps", "1")), PROG)
    assert f"--out {out}: cannot write there: " in line


def _payload(folder, tmp):
    plant_payload(folder / "last.pt", tmp / "ran")


def _older(folder, tmp):
    format_1_checkpoint(folder / "last.pt", build_model("tiny", **MODEL))


def _truncated(folder, tmp):
    data = (folder / "last.pt").read_bytes()
    (folder / "last.pt").write_bytes(data[: len(data) // 3])


def _weights_only(folder, tmp):
    net = build_model("tiny", **MODEL)
    save_checkpoint({"model": net.state_dict(), "model_config": net.cfg.to_dict()},
                    folder / "last.pt")


def _optimizer_misfit(folder, tmp):
    state = read_checkpoint(folder / "last.pt")
    state["optimizer"] = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=1).state_dict()
    save_checkpoint({k: v for k, v in state.items() if k != "format"}, folder / "last.pt")


def _no_change(folder, tmp):
    pass


# (id, how the run folder is spoilt, options beyond --resume, what the line must hold)
RESUME = [
    ("steps-below", _no_change, ["--steps", "1"], "--steps 1: below step 2 that "),
    ("lr-differs", _no_change, ["--lr", "0.5"], "--lr 0.5 differs from the run's"),
    ("device", _no_change, ["--device", "tpu9"], "--device tpu9: not a device name"),
    ("payload", _payload, [], "last.pt: holds pickled Python objects"),
    ("older-oclr", _older, [], "last.pt: written by an older oclr"),
    ("truncated", _truncated, [], "last.pt: truncated: a torch checkpoint cut short"),
    ("weights-only", _weights_only, [], "last.pt: cannot resume from it: no train_config"),
    ("optimizer-misfit", _optimizer_misfit, [], "last.pt: cannot resume from it: "),
]


@pytest.mark.parametrize("spoil, extra, needle", [r[1:] for r in RESUME],
                         ids=[r[0] for r in RESUME])
def test_a_refused_resume_is_one_line_runs_nothing_and_leaves_the_run_as_it_was(
        shards, run_copy, tmp_path, capsys, spoil, extra, needle):
    spoil(run_copy, tmp_path)
    before = folder_digests(run_copy)
    line = refused(*run(capsys, args(shards, run_copy, "--resume", "--steps", "4", *extra)), PROG)
    assert needle in line
    assert not (tmp_path / "ran").exists()  # the payload's marker: no code ran
    assert folder_digests(run_copy) == before


def test_a_run_folder_in_use_is_refused_naming_the_holder(shards, run_copy, capsys):
    before = folder_digests(run_copy)
    with folder_lock.hold(run_copy, "oclr-train (another run)"):
        line = refused(*run(capsys, args(shards, run_copy, "--resume", "--steps", "3")), PROG)
    assert "in use by oclr-train (another run)" in line and str(run_copy) in line
    assert folder_digests(run_copy) == before


def test_an_input_error_in_a_dataloader_worker_is_its_own_one_line(shards, tmp_path, capsys,
                                                                   monkeypatch):
    real = data.read_arrays

    def damaged(reader, seq_id, names, frames=None):
        if torch.utils.data.get_worker_info() is not None:  # only in the worker processes
            raise ShardError(f"{shards}/shard-00000.h5: sequence {seq_id}: damaged chunk")
        return real(reader, seq_id, names, frames)

    monkeypatch.setattr(data, "read_arrays", damaged)
    code, out, err = run(capsys, [*args(shards, tmp_path / "run", "--steps", "2"),
                                  "--workers", "2"])
    line = refused(code, out, err, PROG)
    assert line.startswith(f"{PROG}: error: {shards}/shard-00000.h5: sequence ")
    assert line.endswith(": damaged chunk") and "worker" not in line
    assert [p.name for p in (tmp_path / "run").iterdir()] == [".lock"]


def test_a_really_damaged_shard_read_by_workers_is_one_line_naming_it(shards, tmp_path, capsys):
    copy = shutil.copytree(shards, tmp_path / "shards")
    shard = copy / "shard-00000.h5"
    data = bytearray(shard.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 20_000):
        data[i] ^= 0x55
    shard.write_bytes(bytes(data))
    code, out, err = run(capsys, [*args(copy, tmp_path / "run", "--steps", "3"),
                                  "--workers", "2"])
    line = refused(code, out, err, PROG)
    assert str(shard) in line and "Original" not in line and "worker" not in line
    run_dir = tmp_path / "run"
    assert not run_dir.exists() or [p.name for p in run_dir.iterdir()] == [".lock"]


def test_a_full_disk_at_the_first_checkpoint_is_one_line_and_leaves_no_run_behind(
        shards, tmp_path, capsys, monkeypatch):
    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint.torch, "save", full)
    out = tmp_path / "run"
    line = refused(*run(capsys, args(shards, out, "--steps", "2")), PROG)
    assert line.endswith(f"{out / 'last.pt'}: cannot write the checkpoint: No space left on "
                         "device (errno 28)")
    assert [p.name for p in out.iterdir()] == [".lock"]  # a fresh start stays possible


def test_a_failed_write_of_the_run_settings_names_the_file(shards, tmp_path, capsys,
                                                          monkeypatch):
    out = tmp_path / "run"

    def full(cfg, trainer, info):
        (out / "config.json").write_text("{")
        raise OSError(errno.ENOSPC, "No space left on device", str(out / "config.json"))

    monkeypatch.setattr(engine, "write_config", full)
    line = refused(*run(capsys, args(shards, out, "--steps", "2")), PROG)
    assert line.endswith(f"{out / 'config.json'}: No space left on device (errno 28)")
    assert [p.name for p in out.iterdir()] == [".lock"]


def test_a_full_disk_during_a_resume_keeps_the_last_checkpoint(shards, run_copy, capsys,
                                                               monkeypatch):
    before = digest(run_copy / "last.pt")

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint.torch, "save", full)
    line = refused(*run(capsys, args(shards, run_copy, "--resume", "--steps", "3")), PROG)
    assert "last.pt: cannot write the checkpoint: No space left on device" in line
    assert digest(run_copy / "last.pt") == before
    assert not list(run_copy.glob(".*tmp*"))


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_a_json_file_on_a_full_disk_is_one_line_naming_it(shards, tmp_path, capsys):
    code, out, err = run(capsys, args(shards, tmp_path / "run", "--steps", "1", "--json",
                                      "/dev/full"))
    # stderr's first lines are the run's progress: the work was done, only the JSON file failed
    assert code == 2 and "Traceback" not in out + err
    assert err.splitlines()[-1] == f"{PROG}: error: /dev/full: No space left on device (errno 28)"


def test_too_many_workers_are_capped_at_four_per_core_with_a_warning(monkeypatch, capsys):
    monkeypatch.setattr(cli_train.os, "cpu_count", lambda: 2)
    assert cli_train.capped_workers(999) == 8 and cli_train.capped_workers(8) == 8
    assert capsys.readouterr().err == ("warning: --workers 999: more than 4 per core on 2 core(s);"
                                       " using 8\n")


def test_the_lock_file_alone_does_not_count_as_a_run(tmp_path):
    (tmp_path / ".lock").write_text("oclr-train (pid 1)\n")
    refuse_existing_run(tmp_path)  # no error


def test_under_torchrun_only_rank_0_takes_the_lock(shards, tmp_path, monkeypatch):
    cfg = train_config(RunRequest(shards=str(shards), out=str(tmp_path / "run"), preset="tiny"))
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with hold_run(cfg):
        assert not (tmp_path / "run" / ".lock").exists()
    monkeypatch.setenv("RANK", "0")
    with hold_run(cfg):
        assert (tmp_path / "run" / ".lock").is_file()


# The console script itself, for a representative few (each start costs ~4 s of torch import).

def test_the_console_script_refuses_a_crafted_checkpoint_without_running_it(shards, run_copy,
                                                                            tmp_path):
    _payload(run_copy, tmp_path)
    before = folder_digests(run_copy)
    ran = script(PROG, *args(shards, run_copy, "--resume", "--steps", "4"))
    assert "last.pt: holds pickled Python objects" in ran.error_line(PROG)
    assert "Traceback" not in ran.out and not (tmp_path / "ran").exists()
    assert folder_digests(run_copy) == before


@pytest.mark.parametrize("extra, needle", [
    (["--ckpt-every", "-1"], "--ckpt-every -1: must be at least 1"),
    (["--device", "tpu9"], "--device tpu9: not a device name; this machine has cpu"),
])
def test_the_console_script_names_a_bad_option_in_one_line(shards, tmp_path, extra, needle):
    ran = script(PROG, *args(shards, tmp_path / "run", *extra))
    assert needle in ran.error_line(PROG) and "Traceback" not in ran.out
    assert not (tmp_path / "run").exists()


def test_the_console_script_names_the_run_that_holds_the_folder(shards, run_copy):
    with folder_lock.hold(run_copy, "the test"):
        ran = script(PROG, *args(shards, run_copy, "--resume", "--steps", "3"))
    assert f"in use by the test (pid {os.getpid()})" in ran.error_line(PROG)
