"""oclr-eval under hostile input: in each mode, every bad option or file is refused with exit
status 2 and one stderr line naming it, no traceback, no code run from a crafted checkpoint.

Most rows run `cli_eval.main` in process (a subprocess costs ~4 s of torch import in the
checkpoint modes); a representative few run the installed console script."""

import json

import numpy as np
import pytest
from hostile import damaged_files, format_1_checkpoint, plant_payload, refused
from oclr import build_model
from oclr.checkpoint import read_checkpoint, save_checkpoint
from oclr.cli_eval import main
from oclr.davis_io import write_label_png
from oclrrun import script
from tinyvideo import SMALL, random_checkpoint

PROG = "oclr-eval"


def run(capsys, argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A random-weight checkpoint that fits the conftest shards, and broken stand-ins for it."""
    root = tmp_path_factory.mktemp("eval-files")
    good = random_checkpoint(root / "good.pt", seed=0)
    spoilt = damaged_files(root / "bad", good)
    spoilt["payload"] = plant_payload(root / "evil.pt", root / "ran")
    spoilt["older"] = format_1_checkpoint(root / "old.pt", build_model("tiny", **SMALL))
    state = read_checkpoint(good)
    spoilt["config"] = save_checkpoint({"model": state["model"], "model_config": {
        **state["model_config"], "wings": 2}}, root / "config.pt")
    spoilt["weights"] = save_checkpoint({"model": build_model("tiny").state_dict(),
                                         "model_config": state["model_config"]}, root / "w.pt")
    spoilt["reference"] = root / "reference.pt"
    save_checkpoint({"iteration": 1, "model_state_dict": state["model"]}, spoilt["reference"])
    return root, good, spoilt


# (id, spoilt checkpoint or None for the good one, options, what the line must hold)
SHARDS = [
    ("limit", None, ["--limit", "0"], "--limit 0: must be at least 1"),
    ("batch", None, ["--batch", "0"], "--batch 0: must be at least 1"),
    ("device-name", None, ["--device", "tpu9"], "--device tpu9: not a device name; this machine "
                                                "has cpu"),
    ("device-missing", None, ["--device", "cuda:7"], "--device cuda:7: "),
    ("json-no-folder", None, ["--json", "{tmp}/nowhere/r.json"], "--json {tmp}/nowhere/r.json: "
                                                                 "no folder"),
    ("json-folder", None, ["--json", "{tmp}"], "--json {tmp}: a folder, not a file"),
    ("flow-absent", None, ["--flow", "raft"], "no 'raft' flow in this dataset"),
    ("payload", "payload", [], "evil.pt: holds pickled Python objects"),
    ("older-oclr", "older", [], "old.pt: written by an older oclr"),
    ("truncated", "truncated", [], "truncated.pt: truncated: a torch checkpoint cut short"),
    ("empty", "empty", [], "empty.pt: empty file (0 bytes)"),
    ("garbage", "garbage", [], "garbage.pt: not a torch checkpoint file"),
    ("plain-pickle", "pickle", [], "pickle.pt: a plain pickle, not a torch checkpoint"),
    ("config-field", "config", [], "config.pt: model_config: unknown ModelConfig field(s)"),
    ("weights-misfit", "weights", [], "w.pt: the weights do not fit the network"),
    ("reference-format", "reference", [], "reference.pt: the reference code's checkpoint format"),
]


@pytest.mark.parametrize("spoilt, extra, needle", [r[1:] for r in SHARDS],
                         ids=[r[0] for r in SHARDS])
def test_a_bad_syn_val_input_is_one_line_naming_it(files, val_shards, tmp_path, capsys, spoilt,
                                                   extra, needle):
    root, good, broken = files
    checkpoint = good if spoilt is None else broken[spoilt]
    extra = [a.format(tmp=tmp_path) for a in extra]
    line = refused(*run(capsys, ["--checkpoint", checkpoint, "--shards", val_shards, *extra]),
                   PROG)
    assert needle.format(tmp=tmp_path) in line
    assert not (root / "ran").exists()


def test_a_missing_checkpoint_a_folder_and_a_foreign_dataset_are_named(files, val_shards,
                                                                         tmp_path, capsys):
    _, good, _ = files
    for checkpoint, needle in ((tmp_path / "none.pt", "none.pt: no such checkpoint"),
                               (tmp_path, f"{tmp_path}: a folder, not a checkpoint file")):
        line = refused(*run(capsys, ["--checkpoint", checkpoint, "--shards", val_shards]), PROG)
        assert needle in line
    line = refused(*run(capsys, ["--checkpoint", good, "--shards", tmp_path / "nowhere"]), PROG)
    assert "nowhere" in line


@pytest.fixture
def davis(tmp_path):
    """gt/ and pred/ in DAVIS layout, one sequence of three frames, two objects."""
    labels = np.zeros((24, 32), np.uint8)
    labels[2:10, 2:10], labels[14:22, 18:28] = 1, 2
    for kind in ("gt", "pred"):
        (tmp_path / kind / "bear").mkdir(parents=True)
        for t in range(3):
            write_label_png(tmp_path / kind / "bear" / f"{t:05d}.png", labels)
    return tmp_path


def _garbage_frame(d):
    (d / "pred" / "bear" / "00001.png").write_bytes(b"not a png")


def _pngs_at_top(d):
    write_label_png(d / "gt" / "00000.png", np.zeros((4, 4), np.uint8))


def _missing_frame(d):
    (d / "pred" / "bear" / "00002.png").unlink()


def _other_size(d):
    write_label_png(d / "pred" / "bear" / "00001.png", np.zeros((8, 8), np.uint8))


def _keep(d):
    pass


# (id, how the folders are spoilt, options after --pred/--gt ({d}: the folder), the line holds)
FOLDERS = [
    ("pred-missing", _keep, ["--pred", "{d}/none"], "--pred {d}/none: no such folder"),
    ("workers", _keep, ["--workers", "0"], "expected a positive integer"),
    ("json-folder", _keep, ["--json", "{d}"], "--json {d}: a folder, not a file"),
    ("sequences", _keep, ["--sequences", "cows"], "no sequence folder 'cows'"),
    ("garbage-frame", _garbage_frame, [], "00001.png: cannot read as a PNG image"),
    ("pngs-at-top", _pngs_at_top, [], "holds PNG files directly"),
    ("missing-frame", _missing_frame, [], "00002.png: missing"),
    ("other-size", _other_size, [], "00001.png: 8x8 (WxH) but the ground truth is 32x24"),
]


@pytest.mark.parametrize("spoil, extra, needle", [r[1:] for r in FOLDERS],
                         ids=[r[0] for r in FOLDERS])
def test_a_bad_mask_folder_or_option_is_one_line_naming_it(davis, capsys, spoil, extra, needle):
    spoil(davis)
    base = {"--pred": str(davis / "pred"), "--gt": str(davis / "gt")}
    extra = [a.format(d=davis) for a in extra]
    for name in [a for a in extra if a in base]:
        base.pop(name)
    argv = [x for pair in base.items() for x in pair] + extra
    assert needle.format(d=davis) in refused(*run(capsys, argv), PROG)


BENCHMARK = [
    ("batch", ["--batch", "0"], "--batch 0: must be at least 1"),
    ("overlap", ["--overlap", "-1"], "--overlap -1: must be at least 0"),
    ("json", ["--json", "{tmp}/nowhere/r.json"], "--json {tmp}/nowhere/r.json: no folder"),
]


@pytest.mark.parametrize("extra, needle", [r[1:] for r in BENCHMARK],
                         ids=[r[0] for r in BENCHMARK])
def test_a_bad_benchmark_option_is_refused_before_any_work(files, tmp_path, capsys, extra,
                                                           needle):
    _, good, _ = files
    argv = ["--checkpoint", good, "--davis", tmp_path, "--set", "2016-val", "--out",
            tmp_path / "masks", *[a.format(tmp=tmp_path) for a in extra]]
    assert needle.format(tmp=tmp_path) in refused(*run(capsys, argv), PROG)
    assert not (tmp_path / "masks").exists()


def test_predictions_named_in_upper_case_score_as_lower_case_ones(davis, capsys):
    code, out, _ = run(capsys, ["--pred", davis / "pred", "--gt", davis / "gt"])
    lower = json.loads(out.strip().splitlines()[-1])
    for i, png in enumerate(sorted((davis / "pred" / "bear").iterdir())):
        png.rename(png.with_suffix((".PNG", ".Png", ".pNg")[i]))
    code_upper, out, _ = run(capsys, ["--pred", davis / "pred", "--gt", davis / "gt"])
    assert code == code_upper == 0 and json.loads(out.strip().splitlines()[-1]) == lower
    assert lower["J"] == 1.0


# The console script itself, for a representative few.

def test_the_console_script_refuses_a_crafted_checkpoint_without_running_it(files, val_shards):
    root, _, broken = files
    ran = script(PROG, "--checkpoint", broken["payload"], "--shards", val_shards)
    assert "evil.pt: holds pickled Python objects" in ran.error_line(PROG)
    assert "Traceback" not in ran.out and not (root / "ran").exists()


@pytest.mark.parametrize("extra, needle", [
    (["--limit", "0"], "--limit 0: must be at least 1"),
    (["--device", "tpu9"], "--device tpu9: not a device name; this machine has cpu"),
])
def test_the_console_script_names_a_bad_syn_val_option(files, val_shards, extra, needle):
    _, good, _ = files
    ran = script(PROG, "--checkpoint", good, "--shards", val_shards, *extra)
    assert needle in ran.error_line(PROG) and "Traceback" not in ran.out


def test_the_console_script_names_a_missing_prediction_folder(davis):
    ran = script(PROG, "--pred", davis / "none", "--gt", davis / "gt")
    assert f"--pred {davis / 'none'}: no such folder" in ran.error_line(PROG)
