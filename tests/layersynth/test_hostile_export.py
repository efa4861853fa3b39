"""`layersynth export DIR --format oclr --out DIR2` under hostile input: bad options, an --out that
is a file or read-only, a damaged manifest, a full disk and a failure midway exit 2 with one line
naming the option or file, no traceback, nothing half-written and an earlier export intact."""

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
from layersynth.store import oclr_export


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("good") / "ds")


# (options after DIR, with OUT standing for the test's folder; words of the one line)
BAD_OPTIONS = {
    "format-missing": (["--out", "OUT/x"], ["Missing option '--format'"]),
    "format-unknown": (["--format", "davis", "--out", "OUT/x"], ["--format", "davis"]),
    "out-missing": (["--format", "oclr"], ["Missing option '--out'"]),
    "out-a-file": (["--format", "oclr", "--out", "OUT/afile"], ["--out", "is a file"]),
    "out-under-a-file": (["--format", "oclr", "--out", "OUT/afile/x"], ["--out", "is a file"]),
    "out-empty": (["--format", "oclr", "--out", ""], ["--out ''"]),
    "flow-not-held": (["--format", "oclr", "--out", "OUT/x", "--flow", "raft"],
                      ["--flow raft", "holds flows gt"]),
    "flow-empty": (["--format", "oclr", "--out", "OUT/x", "--flow", ""], ["--flow"]),
    "seq-unknown": (["--format", "oclr", "--out", "OUT/x", "--seq", "007"],
                    ["--seq 007", "no such sequence"]),
    "seq-one-unknown-of-two": (["--format", "oclr", "--out", "OUT/x", "--seq", "000000",
                                "--seq", "zzz"], ["--seq zzz"]),
    "unknown-option": (["--format", "oclr", "--out", "OUT/x", "--quality", "9"], ["--quality"]),
}


@pytest.mark.parametrize("case", BAD_OPTIONS)
def test_a_bad_option_is_refused_in_one_line_and_nothing_is_written(case, good, tmp_path,
                                                                    capsys):
    extra, words = BAD_OPTIONS[case]
    (tmp_path / "afile").write_text("x")
    argv = [str(a).replace("OUT", str(tmp_path)) for a in extra]
    refused(run(capsys, "export", good, *argv), *words)
    assert [p.name for p in tmp_path.iterdir()] == ["afile"]


@pytest.mark.parametrize("case", MANIFEST_CASES)
def test_a_damaged_manifest_is_named_and_nothing_is_written(case, good, tmp_path, capsys):
    change, words = MANIFEST_CASES[case]
    ds = damaged_copy(good, tmp_path / "ds", change)
    refused(run(capsys, "export", ds, "--format", "oclr", "--out", tmp_path / "x"), *words)
    assert not (tmp_path / "x").exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("where", ["missing", "a-file"])
def test_a_dir_that_is_no_dataset_is_named(where, tmp_path, capsys):
    target = tmp_path / "ds"
    if where == "a-file":
        target.write_text("x")
    refused(run(capsys, "export", target, "--format", "oclr", "--out", tmp_path / "x"), target)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("into", ["new", "earlier"])
def test_a_full_disk_is_one_line_and_leaves_nothing_new(into, good, tmp_path, capsys):
    with tmpfs(tmp_path / "disk") as disk:
        ran = run(capsys, "export", good, "--format", "oclr", "--out", disk / "earlier",
                  "--seq", "000000")
        assert ran.code == 0, ran.err
        before = snapshot(disk / "earlier")
        fill(disk)
        ran = run(capsys, "export", good, "--format", "oclr", "--out", disk / into)
        refused(ran, "No space left on device", f"{disk / into} left as it was")
        assert snapshot(disk / "earlier") == before and leftovers(disk) == []
        assert sorted(p.name for p in disk.iterdir()) == ["earlier", "filler"]


def test_a_read_only_folder_is_refused_before_any_work(good, tmp_path, capsys):
    with tmpfs(tmp_path / "ro") as ro:
        assert run(capsys, "export", good, "--format", "oclr", "--out", ro / "e").code == 0
        before = snapshot(ro)
        make_read_only(ro)
        refused(run(capsys, "export", good, "--format", "oclr", "--out", ro / "new"),
                "--out", "Read-only")
        refused(run(capsys, "export", good, "--format", "oclr", "--out", ro / "e"),
                "--out", "Read-only")
        assert snapshot(ro) == before


@pytest.mark.parametrize("into", ["new", "earlier"])
def test_a_failure_at_the_third_sequence_leaves_nothing_and_the_earlier_export(
        into, good, tmp_path, capsys, monkeypatch):
    ran = run(capsys, "export", good, "--format", "oclr", "--out", tmp_path / "earlier",
              "--seq", "000001")
    assert ran.code == 0, ran.err
    before = snapshot(tmp_path / "earlier")
    real, calls = oclr_export.export_sequence, []

    def third_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(args[2] / "x.jpg"))
        return real(*args, **kwargs)

    monkeypatch.setattr(oclr_export, "export_sequence", third_fails)
    ran = run(capsys, "export", good, "--format", "oclr", "--out", tmp_path / into)
    refused(ran, "No space left on device", "export stopped")
    assert len(calls) == 3 and snapshot(tmp_path / "earlier") == before
    assert [p.name for p in tmp_path.iterdir()] == ["earlier"]


def test_the_console_script_refuses_a_file_as_the_output(good, tmp_path):
    (tmp_path / "afile").write_text("x")
    refused(script("export", good, "--format", "oclr", "--out", tmp_path / "afile"),
            "--out", "is a file")
    assert (tmp_path / "afile").read_text() == "x"


def test_the_console_script_names_a_damaged_manifest(good, tmp_path):
    ds = damaged_copy(good, tmp_path / "ds", lambda d: d.pop("shards"))
    refused(script("export", ds, "--format", "oclr", "--out", tmp_path / "x"),
            "manifest.json", "shards: missing")
    assert not (tmp_path / "x").exists()
