"""`layersynth preview DIR --seq ID --out FILE` under hostile input: bad options, a FILE that is a
folder or sits in a missing or read-only folder, a damaged manifest, a full disk and a failure
midway exit 2 with one line naming the file or option, no traceback, no half-written file and an
earlier preview intact."""

import errno

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
    snapshot,
    tiny_dataset,
    tmpfs,
)
from layersynth.viz import preview


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("good") / "ds")


# (options after DIR, with OUT standing for a file in the test's folder; words of the one line)
BAD_OPTIONS = {
    "seq-missing": (["--out", "OUT/p.png"], ["Missing option '--seq'"]),
    "seq-unknown": (["--seq", "999999", "--out", "OUT/p.png"], ["--seq 999999", "no such"]),
    "seq-empty": (["--seq", "", "--out", "OUT/p.png"], ["--seq", "no such sequence"]),
    "out-missing": (["--seq", "000000"], ["Missing option '--out'"]),
    "out-extension": (["--seq", "000000", "--out", "OUT/p.bmp"], ["--out", ".png, .gif or .mp4"]),
    "out-no-extension": (["--seq", "000000", "--out", "OUT/p"], ["--out", ".png"]),
    "out-missing-folder": (["--seq", "000000", "--out", "OUT/no/p.png"],
                           ["--out", "no such folder"]),
    "out-under-a-file": (["--seq", "000000", "--out", "OUT/afile/p.png"],
                         ["--out", "is not a folder"]),
    "out-a-folder": (["--seq", "000000", "--out", "OUT/folder.png"], ["--out", "is a folder"]),
    "fps-zero": (["--seq", "000000", "--out", "OUT/p.gif", "--fps", "0"], ["--fps 0"]),
    "fps-negative": (["--seq", "000000", "--out", "OUT/p.gif", "--fps", "-5"],
                     ["--fps -5", "at least 1"]),
    "fps-text": (["--seq", "000000", "--out", "OUT/p.gif", "--fps", "fast"], ["--fps"]),
    "fps-fraction": (["--seq", "000000", "--out", "OUT/p.gif", "--fps", "2.5"], ["--fps"]),
}


@pytest.mark.parametrize("case", BAD_OPTIONS)
def test_a_bad_option_is_refused_in_one_line_and_nothing_is_written(case, good, tmp_path,
                                                                    capsys):
    extra, words = BAD_OPTIONS[case]
    (tmp_path / "afile").write_text("x")
    (tmp_path / "folder.png").mkdir()
    before = snapshot(tmp_path)
    argv = [str(a).replace("OUT", str(tmp_path)) for a in extra]
    refused(run(capsys, "preview", good, *argv), *words)
    assert snapshot(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == [
        "afile", "folder.png"]


@pytest.mark.parametrize("case", MANIFEST_CASES)
def test_a_damaged_manifest_is_named_and_nothing_is_written(case, good, tmp_path, capsys):
    change, words = MANIFEST_CASES[case]
    ds = damaged_copy(good, tmp_path / "ds", change)
    refused(run(capsys, "preview", ds, "--seq", "000000", "--out", tmp_path / "p.png"), *words)
    assert not (tmp_path / "p.png").exists()


@pytest.mark.parametrize("where", ["missing", "a-file"])
def test_a_dir_that_is_no_dataset_is_named(where, tmp_path, capsys):
    target = tmp_path / "x"
    if where == "a-file":
        target.write_text("x")
    refused(run(capsys, "preview", target, "--seq", "000000", "--out", tmp_path / "p.png"),
            target)


@pytest.mark.parametrize("ext", [".png", ".gif", ".mp4"])
def test_a_full_disk_is_one_line_and_leaves_the_earlier_preview(ext, good, tmp_path, capsys):
    with tmpfs(tmp_path / "disk") as disk:
        out = disk / f"p{ext}"
        assert run(capsys, "preview", good, "--seq", "000001", "--out", out).code == 0
        earlier = out.read_bytes()
        fill(disk, leave=0)
        ran = run(capsys, "preview", good, "--seq", "000000", "--out", out)
        refused(ran, out, "No space left on device", "left as it was")
        assert out.read_bytes() == earlier
        assert sorted(p.name for p in disk.iterdir()) == ["filler", out.name]


def test_a_read_only_folder_is_refused_before_reading_and_its_preview_kept(good, tmp_path,
                                                                         capsys):
    with tmpfs(tmp_path / "ro") as ro:
        assert run(capsys, "preview", good, "--seq", "000000", "--out", ro / "p.png").code == 0
        before = snapshot(ro)
        make_read_only(ro)
        refused(run(capsys, "preview", good, "--seq", "000001", "--out", ro / "q.png"),
                "--out", "Read-only")
        refused(run(capsys, "preview", good, "--seq", "000001", "--out", ro / "p.png"),
                "--out", "Read-only")
        assert snapshot(ro) == before


@pytest.mark.parametrize("ext", [".png", ".gif", ".mp4"])
def test_a_failure_at_the_third_frame_leaves_no_file_and_the_earlier_one(ext, good, tmp_path,
                                                                        capsys, monkeypatch):
    out = tmp_path / f"p{ext}"
    assert run(capsys, "preview", good, "--seq", "000001", "--out", out).code == 0
    earlier = out.read_bytes()
    real, calls = preview.frame_row, []

    def third_frame_fails(*args):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args)

    monkeypatch.setattr(preview, "frame_row", third_frame_fails)
    refused(run(capsys, "preview", good, "--seq", "000000", "--out", out), out, "No space")
    assert len(calls) == 3 and out.read_bytes() == earlier
    assert leftovers(tmp_path) == [] and [p.name for p in tmp_path.iterdir()] == [out.name]


@pytest.mark.parametrize("extra, words", [
    (["--fps", "-5"], ["--fps -5"]),
    (["--seq", "999999"], ["--seq 999999"]),
])
def test_the_console_script_refuses_in_one_line(extra, words, good, tmp_path):
    ran = script("preview", good, "--seq", "000000", "--out", tmp_path / "p.gif", *extra)
    refused(ran, *words)
    assert list(tmp_path.iterdir()) == []


def test_the_console_script_refuses_a_folder_as_the_file(good, tmp_path):
    (tmp_path / "p.png").mkdir()
    refused(script("preview", good, "--seq", "000000", "--out", tmp_path / "p.png"),
            "is a folder")
