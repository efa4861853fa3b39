"""oclr-infer under hostile input: every bad option or file is refused with exit status 2 and one
stderr line naming it, no traceback, no code run from a crafted checkpoint, and no output folder
half-written: a run that fails midway leaves --out as it was.

Most rows run `cli_infer.main` in process (a subprocess costs ~4 s of torch import); a
representative few run the installed console script."""

import errno

import numpy as np
import pytest
from hostile import (
    damaged_files,
    failed_midway,
    folder_digests,
    format_1_checkpoint,
    plant_payload,
    refused,
    unwritable_folder,
)
from layersynth.errors import InputError
from oclr import build_model, infer
from oclr.checkpoint import read_checkpoint, save_checkpoint
from oclr.cli_infer import main
from oclr.model import OCLR
from oclrrun import script
from tinyvideo import SMALL, random_checkpoint, random_frames

PROG = "oclr-infer"
FRAMES = 10  # T = 4 windows overlapping by 1: 3 windows


def run(capsys, argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A random-weight checkpoint, broken stand-ins for it, and a folder of frames."""
    root = tmp_path_factory.mktemp("infer-inputs")
    good = random_checkpoint(root / "good.pt", seed=0)
    spoilt = damaged_files(root / "bad", good)
    spoilt["payload"] = plant_payload(root / "evil.pt", root / "ran")
    spoilt["older"] = format_1_checkpoint(root / "old.pt", build_model("tiny", **SMALL))
    state = read_checkpoint(good)
    spoilt["config"] = save_checkpoint({"model": state["model"], "model_config": {
        **state["model_config"], "heads": "x"}}, root / "config.pt")
    random_frames(root / "frames", FRAMES, rng=np.random.default_rng(0))
    return root, good, spoilt


def base(inputs, out, checkpoint=None):
    root, good, _ = inputs
    return ["--checkpoint", checkpoint or good, "--frames", root / "frames", "--out", out,
            "--no-flow-cache", "--no-overlay"]


def _garbage_frames(tmp):
    folder = tmp / "frames"
    random_frames(folder, 6, rng=np.random.default_rng(1))
    (folder / "00003.png").write_bytes(b"not an image")
    return ["--frames", folder]


def _no_frames(tmp):
    (tmp / "empty").mkdir()
    return ["--frames", tmp / "empty"]


def _cache_file(tmp):
    (tmp / "cache").write_text("x")
    return ["--flow-cache", tmp / "cache"]


def _out_file(tmp):
    (tmp / "out").write_text("x")
    return []


def _video_garbage(tmp):
    (tmp / "clip.mp4").write_bytes(b"not a video")
    return ["--video", tmp / "clip.mp4"]


# (id, spoilt checkpoint or None, options (or a function of the test folder making them),
#  what the line must hold ({tmp}: the test's folder))
ROWS = [
    ("payload", "payload", [], "evil.pt: holds pickled Python objects"),
    ("older-oclr", "older", [], "old.pt: written by an older oclr"),
    ("truncated", "truncated", [], "truncated.pt: truncated: a torch checkpoint cut short"),
    ("garbage", "garbage", [], "garbage.pt: not a torch checkpoint file"),
    ("empty", "empty", [], "empty.pt: empty file (0 bytes)"),
    ("config", "config", [], "config.pt: model_config: "),
    ("device-name", None, ["--device", "tpu9"], "--device tpu9: not a device name; this machine "
                                                "has cpu"),
    ("device-missing", None, ["--device", "cuda:7"], "--device cuda:7: "),
    ("batch", None, ["--batch", "0"], "--batch 0: must be at least 1"),
    ("overlap-negative", None, ["--overlap", "-1"], "--overlap -1: must be at least 0"),
    ("overlap-window", None, ["--overlap", "4"], "--overlap in [0, 4) for this model"),
    ("fps", None, ["--fps", "0"], "--fps 0: must be a finite number > 0"),
    ("flow-width", None, ["--flow-width", "4"], "--flow-width 4: "),
    ("raft-weights", None, ["--flow", "raft", "--raft-weights", "{tmp}/none.ckpt"],
     "--raft-weights {tmp}/none.ckpt: no such file"),
    ("json-no-folder", None, ["--json", "{tmp}/nowhere/s.json"], "--json {tmp}/nowhere/s.json: no"
                                                                 " folder"),
    ("json-folder", None, ["--json", "{tmp}"], "--json {tmp}: a folder, not a file"),
    ("flow-cache-file", None, _cache_file, "--flow-cache {tmp}/cache: a file, not a folder"),
    ("frames-garbage", None, _garbage_frames, "00003.png: not a readable image"),
    ("frames-none", None, _no_frames, "{tmp}/empty: no .jpg/.jpeg/.png frames"),
    ("out-file", None, _out_file, "--out {tmp}/out: a file, not a folder"),
    ("frames-and-video", None, _video_garbage, "give exactly one of --frames DIR or --video FILE"),
]


@pytest.mark.parametrize("spoilt, extra, needle", [r[1:] for r in ROWS],
                         ids=[r[0] for r in ROWS])
def test_a_bad_input_is_one_line_naming_it_and_writes_no_output(inputs, tmp_path, capsys,
                                                                spoilt, extra, needle):
    root, _, broken = inputs
    extra = extra(tmp_path) if callable(extra) else [a.format(tmp=tmp_path) for a in extra]
    argv = base(inputs, tmp_path / "out", spoilt and broken[spoilt])
    if "--frames" in extra:  # replaces the good folder
        argv[argv.index("--frames"):argv.index("--frames") + 2] = []
    if "--flow-cache" in extra:
        argv.remove("--no-flow-cache")
    before = sorted(p.name for p in tmp_path.iterdir())
    line = refused(*run(capsys, [*argv, *extra]), PROG)
    assert needle.format(tmp=tmp_path) in line
    assert not (root / "ran").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no output, no staging folder


@pytest.mark.parametrize("kind, needle", [
    ("truncated", "truncated: a torch checkpoint cut short"),
    ("payload", "holds pickled Python objects"),
])
def test_damaged_or_crafted_raft_weights_are_named_in_words_before_any_work(
        inputs, tmp_path, capsys, kind, needle):
    weights = tmp_path / "raft.ckpt"
    if kind == "payload":
        plant_payload(weights, tmp_path / "ran")
    else:
        weights.write_bytes(inputs[1].read_bytes()[:1000])
    argv = [*base(inputs, tmp_path / "out"), "--flow", "raft", "--raft-weights", weights]
    assert f"--raft-weights {weights}: {needle}" in refused(*run(capsys, argv), PROG)
    assert not (tmp_path / "ran").exists() and not (tmp_path / "out").exists()


def test_a_bad_video_file_is_named(inputs, tmp_path, capsys):
    (tmp_path / "clip.mp4").write_bytes(b"not a video")
    argv = ["--checkpoint", inputs[1], "--video", tmp_path / "clip.mp4", "--out", tmp_path / "out"]
    assert "clip.mp4: not a readable video" in refused(*run(capsys, argv), PROG)
    assert not (tmp_path / "out").exists()


def test_an_out_nobody_may_write_in_is_named(inputs, tmp_path, capsys):
    out = unwritable_folder(tmp_path)
    assert f"--out {out}: cannot write there: " in refused(*run(capsys, base(inputs, out)), PROG)


@pytest.fixture
def earlier(tmp_path):
    """An --out holding an earlier run's mask and a file of the user's."""
    out = tmp_path / "out"
    (out / "masks").mkdir(parents=True)
    (out / "masks" / "00000.png").write_bytes(b"earlier mask")
    (out / "notes.txt").write_text("mine")
    return out


@pytest.mark.parametrize("existing", [False, True])
def test_a_model_failing_on_the_second_window_leaves_out_as_it_was(inputs, tmp_path, capsys,
                                                                  monkeypatch, earlier, existing):
    if not existing:
        out = tmp_path / "fresh"
    else:
        out = earlier
    before = folder_digests(out) if existing else None
    calls, forward = [], OCLR.forward

    def failing(self, flow):
        calls.append(1)
        if len(calls) == 2:
            raise InputError("window 2: the model gave up")
        return forward(self, flow)

    monkeypatch.setattr(OCLR, "forward", failing)
    line = failed_midway(*run(capsys, base(inputs, out)), PROG)
    assert line.endswith("window 2: the model gave up") and len(calls) == 2
    assert (folder_digests(out) == before) if existing else not out.exists()
    assert not list(tmp_path.glob(".*tmp*"))


@pytest.mark.parametrize("existing", [False, True])
def test_a_full_disk_at_the_fourth_mask_leaves_out_as_it_was_and_says_so(
        inputs, tmp_path, capsys, monkeypatch, earlier, existing):
    out = earlier if existing else tmp_path / "fresh"
    before = folder_digests(out) if existing else None
    written, write = [], infer.write_label_png

    def filling(path, labels):
        written.append(path)
        if len(written) == 4:
            raise OSError(errno.ENOSPC, "No space left on device")
        write(path, labels)

    monkeypatch.setattr(infer, "write_label_png", filling)
    line = failed_midway(*run(capsys, base(inputs, out)), PROG)
    assert line.endswith(f"{out}: cannot write the outputs: No space left on device (errno 28); "
                         f"{out} is left as it was")
    assert (folder_digests(out) == before) if existing else not out.exists()
    assert not list(tmp_path.glob(".*tmp*"))


def test_a_run_into_an_earlier_out_replaces_the_masks_and_keeps_other_files(inputs, capsys,
                                                                            earlier):
    code, _, _ = run(capsys, base(inputs, earlier))
    assert code == 0
    assert len(list((earlier / "masks").glob("*.png"))) == FRAMES
    assert (earlier / "masks" / "00000.png").read_bytes() != b"earlier mask"
    assert (earlier / "notes.txt").read_text() == "mine"
    assert not list(earlier.parent.glob(".*tmp*"))


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_damaged_flow_cache_file_is_estimated_again_with_a_warning(inputs, tmp_path, capsys,
                                                                     damage):
    argv = [a for a in base(inputs, tmp_path / "a") if a != "--no-flow-cache"]
    argv += ["--flow-cache", tmp_path / "cache"]
    assert run(capsys, argv)[0] == 0
    (cached,) = (tmp_path / "cache").glob("*.npy")
    data = cached.read_bytes()
    cached.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"garbage" * 40)
    argv[argv.index(tmp_path / "a")] = tmp_path / "b"
    code, out, err = run(capsys, argv)
    assert code == 0 and "Traceback" not in out + err
    assert f"warning: flow cache file {cached} is damaged: " in err
    assert folder_digests(tmp_path / "a") == folder_digests(tmp_path / "b")
    assert cached.read_bytes() == data  # rewritten whole


# The console script itself, for a representative few.

def test_the_console_script_refuses_a_crafted_checkpoint_without_running_it(inputs, tmp_path):
    root, _, broken = inputs
    ran = script(PROG, *base(inputs, tmp_path / "out", broken["payload"]))
    assert "evil.pt: holds pickled Python objects" in ran.error_line(PROG)
    assert "Traceback" not in ran.out and not (root / "ran").exists()
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("extra, needle", [
    (["--device", "tpu9"], "--device tpu9: not a device name; this machine has cpu"),
    (["--batch", "0"], "--batch 0: must be at least 1"),
])
def test_the_console_script_names_a_bad_option_in_one_line(inputs, tmp_path, extra, needle):
    ran = script(PROG, *base(inputs, tmp_path / "out"), *extra)
    assert needle in ran.error_line(PROG) and "Traceback" not in ran.out
    assert not (tmp_path / "out").exists()

