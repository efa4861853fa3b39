"""`layersynth datasets {verify,lock,fetch}`: exit codes, one-line errors, table then JSON."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from clirun import invoke, script
from layersynth.cli import datasets
from layersynth.cli.conventions import run_command


def cli(*argv: str) -> int:
    """The `datasets` group run on its own, as `layersynth datasets ARGV...`."""
    return run_command(datasets.command, list(argv), prog="layersynth datasets")


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def fake_videos(tmp_path: Path) -> tuple[Path, Path]:
    clips = {"a.mp4": b"a" * 100, "b.mp4": b"b" * 200}
    root = tmp_path / "videos"
    root.mkdir()
    for name, data in clips.items():
        (root / name).write_bytes(data)
    files = [{"path": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest(), "md5": "unknown"}
             for n, d in clips.items()]
    lock = tmp_path / "datasets.lock"
    lock.write_text(json.dumps({"datasets": {"videos": {
        "title": "fake clips", "version": "1", "licence": "CC0", "access": "free",
        "files": files}}}))
    return root, lock


def test_verify_exits_zero_on_a_sound_copy_and_prints_json_last(tmp_path, capsys):
    root, lock = fake_videos(tmp_path)
    code = cli("verify", "--name", "videos", "--root", str(root), "--lock", str(lock))
    out = capsys.readouterr().out
    assert code == 0 and "verdict     sound" in out
    assert last_json(out)["counts"] == {"ok": 2, "unverified": 0, "missing": 0, "corrupt": 0,
                                        "extra": 0}


def test_verify_exits_one_and_names_the_missing_and_corrupt_files(tmp_path, capsys):
    root, lock = fake_videos(tmp_path)
    (root / "a.mp4").unlink()
    (root / "b.mp4").write_bytes(b"c" * 200)
    report = tmp_path / "r.json"
    code = cli("verify", "--name", "videos", "--root", str(root), "--lock", str(lock),
               "--json", str(report))
    out = capsys.readouterr().out
    assert code == 1 and "a.mp4" in out and "b.mp4 (sha256" in out
    saved = json.loads(report.read_text())
    assert saved["missing"] == ["a.mp4"] and saved["corrupt"][0]["path"] == "b.mp4"


def test_lock_then_verify_uses_the_users_record(tmp_path, capsys):
    root = tmp_path / "train"
    (root / "Annotations" / "v1").mkdir(parents=True)
    (root / "Annotations" / "v1" / "00000.png").write_bytes(b"png")
    (root / "meta.json").write_text('{"videos": {}}')
    assert cli("lock", "--name", "ytvos", "--root", str(root)) == 0
    assert last_json(capsys.readouterr().out)["files"] == 2
    (root / "Annotations" / "v1" / "00000.png").write_bytes(b"PNG")
    assert cli("verify", "--name", "ytvos", "--root", str(root)) == 1
    assert last_json(capsys.readouterr().out)["corrupt"][0]["path"] == "Annotations/v1/00000.png"


def test_fetch_of_youtube_vos_prints_where_to_get_it(tmp_path, capsys):
    code = cli("fetch", "--name", "ytvos", "--root", str(tmp_path / "y"))
    out = capsys.readouterr().out
    assert code == 1 and "youtube-vos.org" in out and last_json(out)["gated"] is True
    assert not (tmp_path / "y").exists()


def test_bad_inputs_give_one_line_and_exit_two(tmp_path, capsys):
    assert cli("verify", "--name", "pass", "--root", str(tmp_path / "nope")) == 2
    assert cli("verify", "--name", "imagenet", "--root", str(tmp_path)) == 2
    (tmp_path / "bad.lock").write_text("{not json")
    assert cli("verify", "--name", "pass", "--root", str(tmp_path), "--lock",
               str(tmp_path / "bad.lock")) == 2
    assert cli("fetch", "--name", "videos", "--root", str(tmp_path), "--only", "x.mp4") == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 4 and all(e.startswith("layersynth datasets: error:") for e in errors)
    assert "nope: no such directory" in errors[0] and "bad.lock" in errors[2]


def test_through_the_layersynth_group_a_bad_name_is_refused_naming_the_option(tmp_path):
    ran = invoke("datasets", "verify", "--name", "imagenet", "--root", tmp_path)
    assert "Invalid value for '--name': 'imagenet' is not one of 'pass'" in ran.error_line()
    assert "--root" in invoke("datasets", "lock", "--name", "pass").error_line()


def test_an_action_is_required_and_the_error_lists_them():
    line = invoke("datasets").error_line()
    assert "a command is required (fetch, lock, verify); see layersynth datasets --help" in line


def test_the_console_script_verifies_a_sound_copy_with_exit_0(tmp_path):
    root, lock = fake_videos(tmp_path)
    ran = script("datasets", "verify", "--name", "videos", "--root", root, "--lock", lock)
    assert ran.code == 0 and ran.last_json()["counts"]["ok"] == 2
