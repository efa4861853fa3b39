"""`layersynth inspect DIR` under hostile input: a folder that is no dataset, a damaged manifest,
records without statistics, bad options and unwritable --json files exit 2 with one line naming
the file or option and no traceback; settings it only shows (not needs) may be missing."""

import json

import pytest
from fakeshards import write_dataset
from hostile_cli import (
    MANIFEST_CASES,
    damaged_copy,
    make_read_only,
    refused,
    run,
    script,
    tiny_dataset,
    tmpfs,
)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("good") / "ds")


@pytest.mark.parametrize("case", MANIFEST_CASES)
def test_a_damaged_manifest_exits_2_naming_the_file_and_key(case, good, tmp_path, capsys):
    change, words = MANIFEST_CASES[case]
    refused(run(capsys, "inspect", damaged_copy(good, tmp_path / "ds", change)), *words)


@pytest.mark.parametrize("extra, words", [
    (["--epe-sequences", "-1"], ["--epe-sequences -1", "at least 0"]),
    (["--epe-sequences", "all"], ["--epe-sequences"]),
    (["--json", "/nonexistent-folder/i.json"], ["--json", "no such folder"]),
    (["--stats=maybe"], ["--stats"]),
])
def test_a_bad_option_is_refused_in_one_line(extra, words, good, capsys):
    refused(run(capsys, "inspect", good, *extra), *words)


def test_a_json_file_that_cannot_be_written_is_refused_before_any_reading(good, tmp_path,
                                                                         capsys):
    refused(run(capsys, "inspect", good, "--json", tmp_path), "--json", "is a folder")
    with tmpfs(tmp_path / "ro") as ro:
        make_read_only(ro)
        refused(run(capsys, "inspect", good, "--json", ro / "i.json"), "--json", "Read-only")


@pytest.mark.parametrize("where", ["missing", "a-file", "empty-folder"])
def test_a_dir_that_is_no_dataset_is_named(where, tmp_path, capsys):
    target = tmp_path / "x"
    if where == "a-file":
        target.write_text("x")
    elif where == "empty-folder":
        target.mkdir()
    refused(run(capsys, "inspect", target), target)


def test_records_without_statistics_are_named_with_shard_and_sequence(tmp_path, capsys):
    write_dataset(tmp_path / "fake", [2])
    line = refused(run(capsys, "inspect", tmp_path / "fake"), "shard-00000.h5", "000000")
    assert "no stats" in line


@pytest.mark.parametrize("change", [lambda s: s.pop("scene"), lambda s: s.clear(),
                                    lambda s: s.update(scene=[1, 2])])
def test_settings_it_only_shows_may_be_missing(change, good, tmp_path, capsys):
    ds = damaged_copy(good, tmp_path / "ds", lambda d: change(d["settings"]))
    ran = run(capsys, "inspect", ds)
    assert ran.code == 0 and "Traceback" not in ran.err, ran.err
    assert json.loads(ran.out.splitlines()[-1])["frames"] is None


def test_the_console_script_names_a_damaged_manifest(good, tmp_path):
    ds = damaged_copy(good, tmp_path / "ds", lambda d: d["shards"][0].update(ids="000000"))
    refused(script("inspect", ds), "manifest.json", "shards[0].ids")
