"""`layersynth generate` under hostile input: every bad option, output folder, damaged manifest
of a dataset to resume, full disk and read-only folder is refused with exit status 2 and one line
naming the option or file, no traceback, nothing new written and an earlier dataset intact."""

import time

import pytest
from hostile_cli import (
    MANIFEST_CASES,
    TINY,
    damaged_copy,
    fill,
    leftovers,
    make_read_only,
    refused,
    run,
    script,
    snapshot,
    tiny_dataset,
    tmpfs,
)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """The shared tiny dataset, made once for the module."""
    return tiny_dataset(tmp_path_factory.mktemp("good") / "ds")


# (extra options after TINY, words the error line must hold)
BAD_OPTIONS = {
    "n-zero": (["--n", "0"], ["--n 0", "at least 1"]),
    "n-negative": (["--n", "-3"], ["--n -3"]),
    "n-text": (["--n", "many"], ["--n"]),
    "frames-zero": (["--frames", "0"], ["--frames 0"]),
    "frames-negative": (["--frames", "-1"], ["--frames -1"]),
    "frames-text": (["--frames", "four"], ["--frames four", "integer"]),
    "size-one-number": (["--size", "32"], ["--size 32", "HxW"]),
    "size-too-small": (["--size", "8x8"], ["--size 8x8", "16"]),
    "size-zero": (["--size", "0x0"], ["--size 0x0"]),
    "size-letters": (["--size", "axb"], ["--size axb"]),
    "objects-empty": (["--objects", ""], ["--objects ''"]),
    "objects-zero": (["--objects", "0"], ["--objects 0"]),
    "objects-hole": (["--objects", "1,,2"], ["--objects 1,,2"]),
    "objects-letters": (["--objects", "a,b"], ["--objects a,b"]),
    "occlusion-reversed": (["--occlusion", "0.9:0.1"], ["--occlusion 0.9:0.1"]),
    "occlusion-above-one": (["--occlusion", "2:3"], ["--occlusion 2:3"]),
    "occlusion-text": (["--occlusion", "half"], ["--occlusion half"]),
    "time-step-zero": (["--time-step", "0"], ["--time-step 0", "(0, 4]"]),
    "time-step-negative": (["--time-step", "-0.5"], ["--time-step -0.5", "(0, 4]"]),
    "time-step-text": (["--time-step", "half"], ["--time-step half", "expected a number"]),
    "time-step-nan": (["--time-step", "nan"], ["--time-step nan", "(0, 4]"]),
    "time-step-empty": (["--time-step", ""], ["--time-step ''"]),
    "gaps-zero": (["--gaps", "0"], ["--gaps 0", "positive frame gaps"]),
    "gaps-negative": (["--gaps", "1,-2"], ["--gaps 1,-2", "positive frame gaps"]),
    "gaps-duplicate": (["--gaps", "1,2,2"], ["--gaps 1,2,2", "each gap once"]),
    "gaps-without-one": (["--gaps", "2"], ["--gaps 2", "must include 1"]),
    "gaps-text": (["--gaps", "one"], ["--gaps one", "expected frame gaps like 1,2"]),
    "gaps-hole": (["--gaps", "1,,2"], ["--gaps 1,,2", "expected frame gaps"]),
    "gaps-beyond-the-clip": (["--gaps", "1,4"], ["--gaps 1,4", "below the clip's 4 frames"]),
    "order-changes-above-one": (["--order-changes", "1.5"],
                                ["--order-changes 1.5", "must be in [0, 1]"]),
    "order-changes-negative": (["--order-changes", "-0.1"],
                               ["--order-changes -0.1", "must be in [0, 1]"]),
    "order-changes-nan": (["--order-changes", "nan"], ["--order-changes nan", "[0, 1]"]),
    "order-changes-text": (["--order-changes", "all"], ["--order-changes all", "rate in [0, 1]"]),
    "order-changes-one-object": (["--order-changes", "0.5", "--objects", "1"],
                                 ["--order-changes 0.5", "--objects 1", "2 or more"]),
    "order-changes-one-object-preset": (["--preset", "syn-val-reorder", "--objects", "1"],
                                        ["--objects 1", "order_change_prob", "2 or more"]),
    "flow-unknown": (["--flow", "foo"], ["--flow foo", "unknown method"]),
    "flow-empty": (["--flow", ""], ["--flow ''"]),
    "flow-dis-on-one-frame": (["--frames", "1", "--flow", "gt,dis"], ["--frames 1", "T=1"]),
    "device-unknown": (["--device", "tpu9"], ["--device tpu9", "cpu, cuda or cuda:N"]),
    "device-unknown-with-dis": (["--device", "tpu9", "--flow", "gt,dis"], ["--device tpu9"]),
    "device-empty": (["--device", ""], ["--device ''"]),
    "workers-zero": (["--workers", "0"], ["--workers 0"]),
    "workers-negative": (["--workers", "-1"], ["--workers -1"]),
    "shard-size-zero": (["--shard-size", "0"], ["--shard-size 0"]),
    "seed-negative": (["--seed", "-1"], ["--seed -1"]),
    "preset-unknown": (["--preset", "huge"], ["--preset"]),
    "scheduler-no-port": (["--scheduler", "notaurl"], ["--scheduler notaurl", "tcp://HOST:PORT"]),
    "scheduler-empty": (["--scheduler", ""], ["--scheduler ''"]),
    "scheduler-scheme": (["--scheduler", "foo://x:1"], ["--scheduler foo://x:1"]),
    "scheduler-port-range": (["--scheduler", "tcp://h:99999"], ["--scheduler tcp://h:99999"]),
    "scheduler-in-process": (["--scheduler", "inproc://x"], ["--scheduler inproc://x"]),
    "scheduler-tls-unconfigured": (["--scheduler", "tls://127.0.0.1:1"],
                                   ["--scheduler tls://127.0.0.1:1", "cannot reach"]),
    "raft-weights-missing": (["--raft-weights", "no.ckpt", "--flow", "gt,raft"],
                             ["--raft-weights no.ckpt", "no such file"]),
    "textures-missing": (["--textures", "nowhere"], ["--textures nowhere", "no such folder"]),
    "unknown-option": (["--bogus"], ["--bogus"]),
}


@pytest.mark.parametrize("case", BAD_OPTIONS)
def test_a_bad_option_is_refused_in_one_line_before_anything_is_written(case, tmp_path, capsys):
    extra, words = BAD_OPTIONS[case]
    ran = run(capsys, "generate", *TINY, "--out", tmp_path / "new", *extra)
    refused(ran, *words)
    assert not (tmp_path / "new").exists()


def test_raft_weights_without_raft_flow_and_a_texture_file_are_refused(tmp_path, capsys):
    weights = tmp_path / "w.ckpt"
    weights.write_bytes(b"x")
    ran = run(capsys, "generate", *TINY, "--out", tmp_path / "a", "--raft-weights", weights)
    refused(ran, "--raft-weights", "--flow")
    ran = run(capsys, "generate", *TINY, "--out", tmp_path / "b", "--textures", weights)
    refused(ran, "--textures", "no such folder")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.parametrize("target", ["file", "under-a-file", "empty", "json-folder",
                                    "json-missing-folder"])
def test_an_output_that_cannot_be_written_is_refused_at_the_start(target, tmp_path, capsys):
    (tmp_path / "afile").write_text("mine")
    out, json_file = tmp_path / "new", None
    words = {"file": ["--out", "is a file"], "under-a-file": ["--out", "afile", "is a file"],
             "empty": ["--out ''"], "json-folder": ["--json", "is a folder"],
             "json-missing-folder": ["--json", "no such folder"]}[target]
    if target == "file":
        out = tmp_path / "afile"
    elif target == "under-a-file":
        out = tmp_path / "afile" / "ds"
    elif target == "empty":
        out = ""
    elif target == "json-folder":
        json_file = tmp_path
    else:
        json_file = tmp_path / "nowhere" / "s.json"
    argv = ["generate", *TINY, "--out", out] + (["--json", json_file] if json_file else [])
    refused(run(capsys, *argv), *words)
    assert (tmp_path / "afile").read_text() == "mine" and not (tmp_path / "new").exists()


@pytest.mark.parametrize("case", MANIFEST_CASES)
def test_resuming_a_dataset_with_a_damaged_manifest_names_the_file_and_key(case, good, tmp_path,
                                                                          capsys):
    change, words = MANIFEST_CASES[case]
    ds = damaged_copy(good, tmp_path / "ds", change)
    before = snapshot(ds)
    refused(run(capsys, "generate", *TINY, "--out", ds), *words)
    assert snapshot(ds) == before


def test_scene_settings_of_another_type_are_refused_as_other_settings(good, tmp_path, capsys):
    ds = damaged_copy(good, tmp_path / "ds",
                      lambda d: d["settings"]["scene"].update(frames="4"))
    before = snapshot(ds)
    refused(run(capsys, "generate", *TINY, "--out", ds), "other settings", "scene.frames")
    assert snapshot(ds) == before


@pytest.mark.parametrize("seed", [0, 1, 2, 3])  # libhdf5 crashed on a full disk for seeds 1-3
def test_a_full_disk_is_one_line_leaves_no_partial_shard_and_a_rerun_finishes(seed, tmp_path,
                                                                             capsys):
    tiny = [*TINY, "--seed", seed]
    with tmpfs(tmp_path / "disk") as disk:
        fill(disk)
        ran = run(capsys, "generate", *tiny, "--out", disk / "ds")
        line = refused(ran, "No space left on device", disk / "ds")
        assert "shard-00000.h5" in line and leftovers(disk) == []
        (disk / "filler").unlink()
        ran = run(capsys, "generate", *tiny, "--out", disk / "ds")
        assert ran.code == 0, ran.err
        assert run(capsys, "validate", disk / "ds").code == 0
        assert leftovers(disk) == []


@pytest.mark.parametrize("where", [0.1, 0.5, 0.9])
def test_a_disk_that_fills_inside_the_second_shard_keeps_the_first_and_a_rerun_finishes(
    where, tmp_path, capsys
):
    """The disk fills `where` of the way through the second shard's bytes."""
    sizes = [p.stat().st_size for p in sorted(tiny_dataset(tmp_path / "ref").glob("*.h5"))]
    with tmpfs(tmp_path / "disk") as disk:
        fill(disk, leave=16 * 1024 + sizes[0] + int(where * sizes[1]))  # 16 KiB: manifest, lock
        ran = run(capsys, "generate", *TINY, "--out", disk / "ds")
        line = refused(ran, "No space left on device", disk / "ds" / "shard-00001.h5")
        assert leftovers(disk) == [] and not (disk / "ds" / "shard-00001.h5").exists(), line
        (disk / "filler").unlink()
        ran = run(capsys, "generate", *TINY, "--out", disk / "ds")
        assert ran.code == 0 and "(2 made, 2 kept)" in ran.out, ran.err
        assert run(capsys, "validate", disk / "ds").code == 0
        assert snapshot(disk / "ds") == snapshot(tmp_path / "ref") and leftovers(disk) == []


def test_a_read_only_folder_is_refused_before_any_work_and_its_dataset_kept(good, tmp_path,
                                                                           capsys):
    with tmpfs(tmp_path / "ro") as ro:
        ran = run(capsys, "generate", *TINY, "--out", ro / "ds")
        assert ran.code == 0, ran.err
        before = snapshot(ro)
        make_read_only(ro)
        refused(run(capsys, "generate", *TINY, "--out", ro / "new"), "--out", "Read-only")
        refused(run(capsys, "generate", *TINY, "--n", "6", "--out", ro / "ds"), "Read-only")
        refused(run(capsys, "generate", *TINY, "--out", tmp_path / "x", "--json",
                    ro / "s.json"), "--json", "Read-only")
        assert snapshot(ro) == before and not (tmp_path / "x").exists()


@pytest.mark.parametrize("extra, words", [
    (["--objects", ""], ["--objects ''"]),
    (["--frames", "1", "--flow", "gt,dis"], ["T=1"]),
    (["--device", "tpu9"], ["--device tpu9"]),
    (["--scheduler", "notaurl"], ["--scheduler notaurl"]),
])
def test_the_console_script_refuses_in_one_line(extra, words, tmp_path):
    start = time.monotonic()
    ran = script("generate", *TINY, "--out", tmp_path / "new", *extra)
    refused(ran, *words)
    assert "Client.__del__" not in ran.err and time.monotonic() - start < 15
    assert not (tmp_path / "new").exists()


def test_the_console_script_names_a_damaged_manifest(good, tmp_path):
    ds = damaged_copy(good, tmp_path / "ds", lambda d: d.update(n="4"))
    refused(script("generate", *TINY, "--out", ds), "manifest.json", "n:")
