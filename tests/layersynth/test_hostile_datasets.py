"""`layersynth datasets {verify,lock,fetch}` under hostile input: bad names, roots, lock files,
--json files and read-only roots exit 2 with one line naming the option or file, no traceback and
nothing written. Nothing here downloads: every fetch row is refused before it would."""

import json

import pytest
from hostile_cli import make_read_only, refused, run, script, snapshot, tmpfs
from lockfiles import CLIPS, fake_copy, write_lock


@pytest.fixture
def copy(tmp_path):
    """(root of a fake 'videos' copy, its lock file) in the test's folder."""
    root = fake_copy(tmp_path / "videos", CLIPS)
    return root, write_lock(tmp_path / "datasets.lock", "videos", CLIPS)


def _not_json(path):
    path.write_text("{not json")


def _no_videos(path):
    path.write_text(json.dumps({"lock_version": 1, "datasets": {"pass": {}}}))


def _files_text(path):
    data = json.loads(path.read_text())
    data["datasets"]["videos"]["files"] = "all of them"
    path.write_text(json.dumps(data))


# (action, options with ROOT / LOCK / TMP standing for the fixture's paths, words of the line)
BAD = {
    "action-missing": ([], [], ["a command is required", "verify"]),
    "action-unknown": (["check"], ["--name", "videos", "--root", "ROOT"], ["check"]),
    "name-missing": (["verify"], ["--root", "ROOT", "--lock", "LOCK"], ["--name"]),
    "name-unknown": (["verify"], ["--name", "imagenet", "--root", "ROOT"], ["--name",
                                                                           "imagenet"]),
    "root-missing-option": (["verify"], ["--name", "videos", "--lock", "LOCK"], ["--root"]),
    "root-nowhere": (["verify"], ["--name", "videos", "--root", "TMP/nowhere", "--lock", "LOCK"],
                     ["--root", "no such directory"]),
    "root-a-file": (["verify"], ["--name", "videos", "--root", "LOCK", "--lock", "LOCK"],
                    ["--root", "is a file"]),
    "lock-nowhere": (["verify"], ["--name", "videos", "--root", "ROOT", "--lock",
                                  "TMP/no.lock"], ["no.lock", "cannot read the lock"]),
    "lock-a-folder": (["verify"], ["--name", "videos", "--root", "ROOT", "--lock", "ROOT"],
                      ["videos"]),
    "json-missing-folder": (["verify"], ["--name", "videos", "--root", "ROOT", "--lock", "LOCK",
                                         "--json", "TMP/no/v.json"], ["--json", "no such folder"]),
    "json-a-folder": (["verify"], ["--name", "videos", "--root", "ROOT", "--lock", "LOCK",
                                   "--json", "ROOT"], ["--json", "is a folder"]),
    "lock-root-a-file": (["lock"], ["--name", "videos", "--root", "LOCK", "--lock", "LOCK"],
                         ["--root", "is a file"]),
    "lock-json-a-folder": (["lock"], ["--name", "videos", "--root", "ROOT", "--lock", "LOCK",
                                      "--json", "ROOT"], ["--json", "is a folder"]),
    "fetch-only-unknown": (["fetch"], ["--name", "videos", "--root", "TMP/new", "--lock", "LOCK",
                                       "--only", "zzz.mp4"], ["--only zzz.mp4"]),
    "fetch-root-under-a-file": (["fetch"], ["--name", "videos", "--root", "LOCK/sub", "--lock",
                                            "LOCK"], ["--root", "is a file"]),
    "fetch-json-missing-folder": (["fetch"], ["--name", "videos", "--root", "TMP/new", "--lock",
                                              "LOCK", "--json", "TMP/no/f.json"], ["--json"]),
}


def _placed(option: str, paths: dict) -> str:
    """`option` with a leading ROOT, LOCK or TMP replaced by that path ("TMP/no" -> ...)."""
    head, sep, rest = option.partition("/")
    return f"{paths[head]}{sep}{rest}" if head in paths else option


@pytest.mark.parametrize("case", BAD)
def test_a_bad_request_is_refused_in_one_line_and_nothing_is_written(case, copy, tmp_path,
                                                                     capsys):
    action, options, words = BAD[case]
    root, lock = copy
    argv = [_placed(o, {"ROOT": root, "LOCK": lock, "TMP": tmp_path}) for o in options]
    before = snapshot(tmp_path)
    refused(run(capsys, "datasets", *action, *argv), *words)
    assert snapshot(tmp_path) == before and not (tmp_path / "new").exists()


@pytest.mark.parametrize("damage", [_not_json, _no_videos, _files_text])
@pytest.mark.parametrize("action", ["verify", "lock"])
def test_a_damaged_lock_file_is_named_in_one_line(action, damage, copy, capsys):
    root, lock = copy
    damage(lock)
    before = snapshot(root)
    refused(run(capsys, "datasets", action, "--name", "videos", "--root", root, "--lock", lock),
            "datasets.lock")
    assert snapshot(root) == before


def test_lock_refuses_a_read_only_root_before_reading_it(tmp_path, capsys):
    with tmpfs(tmp_path / "ro") as ro:
        fake_copy(ro, CLIPS)
        lock = write_lock(tmp_path / "datasets.lock", "videos", CLIPS)
        make_read_only(ro)
        ran = run(capsys, "datasets", "lock", "--name", "videos", "--root", ro, "--lock", lock)
        refused(ran, "--root", "Read-only file system")
        ran = run(capsys, "datasets", "fetch", "--name", "videos", "--root", ro / "x", "--lock",
                  lock)
        refused(ran, "--root", "Read-only file system")


def test_a_json_file_in_a_read_only_folder_is_refused(copy, tmp_path, capsys):
    root, lock = copy
    with tmpfs(tmp_path / "ro") as ro:
        make_read_only(ro)
        ran = run(capsys, "datasets", "verify", "--name", "videos", "--root", root, "--lock",
                  lock, "--json", ro / "v.json")
        refused(ran, "--json", "Read-only")


def test_the_console_script_refuses_an_unknown_name_and_a_missing_root(copy, tmp_path):
    root, lock = copy
    refused(script("datasets", "verify", "--name", "imagenet", "--root", root), "--name")
    refused(script("datasets", "lock", "--name", "videos", "--root", tmp_path / "nowhere",
                   "--lock", lock), "--root", "no such directory")
