"""`layersynth flow DIR` under hostile input: bad options, clips the method cannot take (one frame,
frames under DIS's smallest size), damaged manifests and unwritable --json files are refused
with exit status 2 and one line naming the option or dataset, before any estimator loads, with
no traceback and the dataset unchanged."""

import pytest
from hostile_cli import (
    MANIFEST_CASES,
    damaged_copy,
    fill,
    leftovers,
    make_read_only,
    refused,
    run,
    script,
    sized_dataset,
    snapshot,
    tiny_dataset,
    tmpfs,
)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("good") / "ds")


@pytest.fixture(scope="module")
def one_frame(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("t1") / "ds1", "--frames", "1")


# (options after DIR, words the error line must hold)
BAD_OPTIONS = {
    "method-missing": ([], ["Missing option '--method'"]),
    "method-unknown": (["--method", "lk"], ["--method", "lk"]),
    "batch-zero": (["--method", "dis", "--batch", "0"], ["--batch 0", "at least 1"]),
    "batch-negative": (["--method", "dis", "--batch", "-1"], ["--batch -1"]),
    "batch-text": (["--method", "dis", "--batch", "many"], ["--batch"]),
    "iters-zero": (["--method", "raft", "--iters", "0"], ["--iters 0"]),
    "device-unknown-dis": (["--method", "dis", "--device", "tpu9"], ["--device tpu9"]),
    "device-unknown-raft": (["--method", "raft", "--device", "tpu9"], ["--device tpu9"]),
    "device-empty": (["--method", "dis", "--device", ""], ["--device ''"]),
    "part-out-of-range": (["--method", "dis", "--part", "5/4"], ["--part 5/4"]),
    "part-text": (["--method", "dis", "--part", "x"], ["--part x"]),
    "part-zero-parts": (["--method", "dis", "--part", "0/0"], ["--part 0/0"]),
    "precision-unknown": (["--method", "raft", "--precision", "fp8"], ["--precision"]),
    "raft-weights-with-dis": (["--method", "dis", "--raft-weights", "w.ckpt"],
                              ["--raft-weights", "--method raft"]),
    "raft-weights-missing": (["--method", "raft", "--raft-weights", "no.ckpt"],
                             ["no.ckpt", "not found"]),
    "unknown-option": (["--method", "dis", "--fast"], ["--fast"]),
}


@pytest.mark.parametrize("case", BAD_OPTIONS)
def test_a_bad_option_is_refused_in_one_line_and_the_dataset_is_unchanged(case, good, capsys):
    extra, words = BAD_OPTIONS[case]
    before = snapshot(good)
    refused(run(capsys, "flow", good, *extra), *words)
    assert snapshot(good) == before


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_full_disk_is_one_line_keeps_the_dataset_and_a_rerun_adds_the_flow(seed, tmp_path,
                                                                            capsys):
    with tmpfs(tmp_path / "disk") as disk:
        ds = tiny_dataset(disk / "ds", "--seed", str(seed))
        before = snapshot(ds)
        fill(disk, leave=16 * 1024)  # less than a rewritten tiny shard
        ran = run(capsys, "flow", ds, "--method", "dis")
        line = refused(ran, "No space left on device", ds / "shard-00000.h5")
        assert snapshot(ds) == before and leftovers(disk) == [], line
        (disk / "filler").unlink()
        assert run(capsys, "flow", ds, "--method", "dis").code == 0
        assert run(capsys, "validate", ds).code == 0 and leftovers(disk) == []


@pytest.mark.parametrize("where", ["missing-folder", "a-folder", "read-only"])
def test_an_unwritable_json_file_is_refused_before_any_flow_is_added(where, good, tmp_path,
                                                                     capsys):
    before = snapshot(good)
    if where == "read-only":
        with tmpfs(tmp_path / "ro") as ro:
            make_read_only(ro)
            ran = run(capsys, "flow", good, "--method", "dis", "--json", ro / "f.json")
            refused(ran, "--json", "Read-only file system")
    else:
        target = tmp_path / "no" / "f.json" if where == "missing-folder" else tmp_path
        refused(run(capsys, "flow", good, "--method", "dis", "--json", target), "--json")
    assert snapshot(good) == before


@pytest.mark.parametrize("method", ["dis", "raft"])
def test_one_frame_clips_are_refused_naming_the_dataset_and_t(method, one_frame, capsys):
    before = snapshot(one_frame)
    line = refused(run(capsys, "flow", one_frame, "--method", method), one_frame, "T=1")
    assert "at least 2 frames" in line
    assert snapshot(one_frame) == before


@pytest.mark.parametrize("height, width", [(7, 9), (9, 7), (11, 11)])
def test_frames_smaller_than_dis_takes_are_refused_naming_the_size(height, width, tmp_path,
                                                                   capsys):
    ds = sized_dataset(tmp_path / "small", frames=3, height=height, width=width)
    before = snapshot(ds)
    refused(run(capsys, "flow", ds, "--method", "dis"), ds, f"{height}x{width}", "DIS needs")
    assert snapshot(ds) == before


def test_the_smallest_frames_dis_takes_get_their_flow(tmp_path, capsys):
    ds = sized_dataset(tmp_path / "small", frames=3, height=8, width=12)
    ran = run(capsys, "flow", ds, "--method", "dis")
    assert ran.code == 0, ran.err


@pytest.mark.parametrize("where", ["missing", "a-file"])
def test_a_dir_that_is_no_dataset_folder_is_named(where, tmp_path, capsys):
    target = tmp_path / "nowhere"
    if where == "a-file":
        target.write_text("x")
    refused(run(capsys, "flow", target, "--method", "dis"), target)


@pytest.mark.parametrize("case", MANIFEST_CASES)
def test_a_damaged_manifest_is_named_with_its_key(case, good, tmp_path, capsys):
    change, words = MANIFEST_CASES[case]
    ds = damaged_copy(good, tmp_path / "ds", change)
    before = snapshot(ds)
    refused(run(capsys, "flow", ds, "--method", "dis"), *words)
    assert snapshot(ds) == before


@pytest.mark.parametrize("extra, words", [
    (["--method", "dis", "--batch", "0"], ["--batch 0"]),
    (["--method", "dis", "--device", "tpu9"], ["--device tpu9"]),
])
def test_the_console_script_refuses_in_one_line(extra, words, good):
    refused(script("flow", good, *extra), *words)


def test_the_console_script_names_a_one_frame_dataset(one_frame):
    refused(script("flow", one_frame, "--method", "dis"), "T=1")
