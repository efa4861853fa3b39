"""`layersynth validate DIR` under hostile input: a folder that is no dataset, a damaged manifest,
settings --deep cannot rebuild, bad options and unwritable --json files exit 2 with one line
naming the file or option and no traceback; a dataset that reads but is not sound (a listed
shard missing, sequences not generated yet) gets the verdict, exit 1, naming each problem."""

import json

import pytest
from hostile_cli import (
    MANIFEST_CASES,
    damaged_copy,
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
    return tiny_dataset(tmp_path_factory.mktemp("good") / "ds")


def test_the_good_dataset_is_sound(good, capsys):
    ran = run(capsys, "validate", good)
    assert ran.code == 0 and "Traceback" not in ran.err


@pytest.mark.parametrize("case", MANIFEST_CASES)
def test_a_damaged_manifest_exits_2_naming_the_file_and_key(case, good, tmp_path, capsys):
    change, words = MANIFEST_CASES[case]
    ds = damaged_copy(good, tmp_path / "ds", change)
    before = snapshot(ds)
    refused(run(capsys, "validate", ds), *words)
    assert snapshot(ds) == before


# changes to the settings (which only --deep rebuilds), words of the one line
DEEP_SETTINGS = {
    "frames-text": (lambda s: s["scene"].update(frames="4"),
                    ["manifest.json", "settings", "frames: expected an integer, got str '4'"]),
    "objects-number": (lambda s: s["scene"].update(objects=3), ["settings", "objects"]),
    "scene-missing": (lambda s: s.pop("scene"), ["manifest.json", "settings"]),
    "flow-missing": (lambda s: s.pop("flow"), ["manifest.json", "settings", "missing 'flow'"]),
    "scene-unknown-field": (lambda s: s["scene"].update(colour=1), ["settings", "colour"]),
}


@pytest.mark.parametrize("case", DEEP_SETTINGS)
def test_deep_refuses_settings_it_cannot_rebuild_in_one_line(case, good, tmp_path, capsys):
    change, words = DEEP_SETTINGS[case]
    ds = damaged_copy(good, tmp_path / "ds", lambda d: change(d["settings"]))
    refused(run(capsys, "validate", ds, "--deep"), *words)


@pytest.mark.parametrize("extra, words", [
    (["--workers", "0"], ["--workers 0"]),
    (["--workers", "x"], ["--workers"]),
    (["--deep", "--deep=yes"], ["--deep"]),
    (["--json", "/nonexistent-folder/v.json"], ["--json", "no such folder"]),
    (["--bogus"], ["--bogus"]),
])
def test_a_bad_option_is_refused_in_one_line(extra, words, good, capsys):
    refused(run(capsys, "validate", good, *extra), *words)


def test_a_json_file_in_a_read_only_folder_is_refused_before_any_check(good, tmp_path, capsys):
    with tmpfs(tmp_path / "ro") as ro:
        make_read_only(ro)
        refused(run(capsys, "validate", good, "--json", ro / "v.json"), "--json", "Read-only")


@pytest.mark.parametrize("where", ["missing", "a-file", "empty-folder"])
def test_a_dir_that_is_no_dataset_is_named(where, tmp_path, capsys):
    target = tmp_path / "x"
    if where == "a-file":
        target.write_text("x")
    elif where == "empty-folder":
        target.mkdir()
    refused(run(capsys, "validate", target), target)


def test_a_listed_shard_that_is_missing_is_the_verdict_exit_1(good, tmp_path, capsys):
    ds = damaged_copy(good, tmp_path / "ds", lambda d: None)
    (ds / "shard-00001.h5").unlink()
    ran = run(capsys, "validate", ds)
    assert ran.code == 1 and "Traceback" not in ran.err + ran.out
    assert "problem: shard-00001.h5: missing" in ran.out
    assert json.loads(ran.out.splitlines()[-1])["ok"] is False


def test_sequences_not_generated_yet_are_the_verdict_exit_1(good, tmp_path, capsys):
    ds = damaged_copy(good, tmp_path / "ds", lambda d: d.update(n=6))
    ran = run(capsys, "validate", ds)
    assert ran.code == 1 and "2 of 6 sequences not generated yet" in ran.out


def test_the_console_script_names_a_damaged_manifest_and_gives_the_verdict(good, tmp_path):
    ds = damaged_copy(good, tmp_path / "ds", lambda d: d.update(schema_version=1.5))
    refused(script("validate", ds), "manifest.json", "schema_version", "1.5")
    ds = damaged_copy(good, tmp_path / "ds2", lambda d: None)
    (ds / "shard-00000.h5").unlink()
    ran = script("validate", ds)
    assert ran.code == 1 and "shard-00000.h5: missing" in ran.out and "Traceback" not in ran.err
