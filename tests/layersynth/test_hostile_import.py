"""`layersynth import` under hostile input: bad options and sources exit 2 in one line naming the
option or file with nothing written; a sequence with a bad file (missing mask, bad .flo tag,
truncated JPEG, a name without its object count, ...) is skipped with a warning naming the file
and counted, or refused with that line under --strict; a file that fails to decode half-way stops
the import naming it, leaving only finished shards, which a re-run keeps."""

import json
import shutil

import numpy as np
import pytest
from hostile_cli import leftovers, refused, run
from layersynth.store.folder_lock import hold
from layersynth.store.middlebury_flo import write_flo
from released_layout import write_released

SPECS = [("1_a", 3, 16, 24), ("2_b", 3, 16, 24), ("3_c", 3, 16, 24)]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("released") / "src"
    write_released(root, SPECS, np.random.default_rng(3))
    return root


@pytest.fixture
def src(pristine, tmp_path):
    return shutil.copytree(pristine, tmp_path / "src")


def args(src, out, *extra):
    return ["import", src, "--format", "oclr", "--out", out, "--workers", "1", "--shard-size",
            "1", *extra]


BAD_OPTIONS = {  # options after SRC (OUT: the test's output folder); words of the one line
    "format-missing": (["--out", "OUT"], ["Missing option '--format'"]),
    "format-unknown": (["--format", "davis", "--out", "OUT"], ["--format", "davis"]),
    "out-missing": (["--format", "oclr"], ["Missing option '--out'"]),
    "out-a-file": (["--format", "oclr", "--out", "AFILE"], ["--out", "is a file"]),
    "size-not-hxw": (["--format", "oclr", "--out", "OUT", "--size", "128"], ["--size", "HxW"]),
    "size-tiny": (["--format", "oclr", "--out", "OUT", "--size", "4x4"], ["--size 4x4", "8x8"]),
    "workers-0": (["--format", "oclr", "--out", "OUT", "--workers", "0"], ["--workers"]),
    "shard-size-0": (["--format", "oclr", "--out", "OUT", "--shard-size", "0"], ["--shard-size"]),
}


@pytest.mark.parametrize("case", BAD_OPTIONS)
def test_a_bad_option_is_one_line_and_writes_nothing(case, pristine, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    options, words = BAD_OPTIONS[case]
    options = [str(tmp_path / "out") if o == "OUT" else str(tmp_path / "afile") if o == "AFILE"
               else o for o in options]
    refused(run(capsys, "import", pristine, *options), *words)
    assert not (tmp_path / "out").exists()


def test_a_missing_source_or_one_in_another_layout_is_named(tmp_path, capsys):
    refused(run(capsys, *args(tmp_path / "none", tmp_path / "out")), "none")
    (tmp_path / "other" / "JPEGImages").mkdir(parents=True)
    refused(run(capsys, *args(tmp_path / "other", tmp_path / "out")), "other",
            "not the released OCLR layout", "AmodalAnnotations")
    assert not (tmp_path / "out").exists()


def _drop(path):
    path.unlink()


def _bad_tag(path):
    data = bytearray(path.read_bytes())
    data[:4] = b"XXXX"
    path.write_bytes(bytes(data))


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _rename_everywhere(new):
    def change(src):
        for layout in ("JPEGImages", "AmodalAnnotations", "Flows_gap1", "Flows_gap-1"):
            (src / layout / "2_b").rename(src / layout / new)
    return change


def _small_flow(path):
    write_flo(path, np.zeros((8, 12, 2), np.float32))


BAD_FILES = {  # (change of the source, file the line names, words of the line)
    "mask-missing": (lambda s: _drop(s / "AmodalAnnotations/2_b/2_00001.png"),
                     "AmodalAnnotations/2_b/2_00001.png", ["missing", "says 2 objects"]),
    "mask-extra": (lambda s: shutil.copy(s / "AmodalAnnotations/2_b/1_00001.png",
                                         s / "AmodalAnnotations/2_b/3_00001.png"),
                   "AmodalAnnotations/2_b/3_00001.png", ["beyond the 2 objects"]),
    "flo-bad-tag": (lambda s: _bad_tag(s / "Flows_gap1/2_b/00001.flo"),
                    "Flows_gap1/2_b/00001.flo", ["bad tag"]),
    "flo-missing-inside": (lambda s: _drop(s / "Flows_gap-1/2_b/00001.flo"),
                           "Flows_gap-1/2_b/00001.flo", ["missing"]),
    "flo-other-size": (lambda s: _small_flow(s / "Flows_gap1/2_b/00000.flo"),
                       "Flows_gap1/2_b/00000.flo", ["8x12", "16x24"]),
    "jpeg-truncated": (lambda s: _truncate(s / "JPEGImages/2_b/00002.jpg"),
                       "JPEGImages/2_b/00002.jpg", ["truncated JPEG"]),
    "name-without-digit": (_rename_everywhere("b_no_count"), "JPEGImages/b_no_count",
                           ["does not start with its object count"]),
    "name-with-zero": (_rename_everywhere("0_b"), "JPEGImages/0_b", ["object count"]),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_bad_sequence_is_skipped_with_a_warning_naming_the_file_and_counted(
        case, src, tmp_path, capsys):
    change, file, words = BAD_FILES[case]
    change(src)
    ran = run(capsys, *args(src, tmp_path / "out"))
    assert ran.code == 0, ran.err
    warnings = [line for line in ran.err.splitlines() if "skipped" in line]
    assert len(warnings) == 1 and str(src / file) in warnings[0]
    assert all(w in warnings[0] for w in words), warnings[0]
    summary = json.loads(ran.out.strip().splitlines()[-1])
    assert (summary["sequences"], summary["skipped"]) == (2, 1)
    card = (tmp_path / "out" / "DATASET.md").read_text()
    assert "skipped: 1" in card and file in card


@pytest.mark.parametrize("case", BAD_FILES)
def test_under_strict_a_bad_sequence_is_one_line_naming_the_file_and_nothing_is_written(
        case, src, tmp_path, capsys):
    change, file, words = BAD_FILES[case]
    change(src)
    refused(run(capsys, *args(src, tmp_path / "out"), "--strict"), src / file, *words)
    assert not (tmp_path / "out").exists()


def test_a_source_without_one_sound_sequence_is_refused(src, tmp_path, capsys):
    for name, *_ in SPECS:
        _drop(src / "AmodalAnnotations" / name / "1_00000.png")
    refused(run(capsys, *args(src, tmp_path / "out")), "no sound sequence", "3 skipped")
    assert not (tmp_path / "out").exists()


def _broken_png(path):
    data = bytearray(path.read_bytes())
    data[-20:-12] = b"\x00" * 8  # inside IDAT/IEND: the header still reads, the pixels do not
    path.write_bytes(bytes(data))


def test_a_file_that_fails_to_decode_stops_the_import_and_a_rerun_resumes(
        src, pristine, tmp_path, capsys):
    bad = src / "AmodalAnnotations" / "3_c" / "2_00001.png"
    _broken_png(bad)
    refused(run(capsys, *args(src, tmp_path / "out")), bad, "unreadable PNG")
    out = tmp_path / "out"
    assert sorted(p.name for p in out.glob("shard-*")) == ["shard-00000.h5", "shard-00001.h5"]
    assert leftovers(out) == []
    assert [e["file"] for e in json.loads((out / "manifest.json").read_text())["shards"]] == [
        "shard-00000.h5", "shard-00001.h5"]
    shutil.copy(pristine / "AmodalAnnotations" / "3_c" / "2_00001.png", bad)
    ran = run(capsys, *args(src, out))
    summary = json.loads(ran.out.strip().splitlines()[-1])
    assert (summary["made"], summary["kept"]) == (1, 2)
    assert run(capsys, "validate", out, "--deep").code == 0


def test_an_import_into_a_folder_another_run_holds_is_refused(pristine, tmp_path, capsys):
    with hold(tmp_path / "out", "layersynth import"):
        refused(run(capsys, *args(pristine, tmp_path / "out")), "in use by layersynth import")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".lock"]


def test_a_folder_holding_other_files_is_refused(pristine, tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    refused(run(capsys, *args(pristine, tmp_path / "out")), "not empty")
