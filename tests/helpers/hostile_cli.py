"""Hostile inputs for the tests of the `layersynth` commands: a tiny dataset made through the
command line, damaged manifests, a full disk and a read-only folder (small tmpfs mounts), and
the checks every refused run must pass (exit status, one stderr line, no traceback, nothing left).

On the test path through pytest's `pythonpath` setting (pyproject.toml):
`from hostile_cli import refused, tiny_dataset`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from clirun import SCRIPT
from fakeshards import fake_arrays
from layersynth.cli.main import main
from layersynth.store import manifest
from layersynth.store.writer import ShardWriter

# The options of the shared tiny dataset: 4 sequences of 4 frames at 32 x 48, 2 per shard.
TINY = ["--preset", "tiny", "--n", "4", "--frames", "4", "--size", "32x48", "--shard-size", "2",
        "--workers", "1"]


@dataclass(frozen=True)
class Ran:
    """What one run of `layersynth` left: exit status, stdout, stderr."""

    code: int
    out: str
    err: str


def run(capsys, *argv) -> Ran:
    """`layersynth ARGV...` in this process, through `layersynth.cli.main.main`."""
    capsys.readouterr()
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return Ran(code, captured.out, captured.err)


def script(*argv, timeout: float = 120) -> Ran:
    """`layersynth ARGV...` through the installed console script, in a subprocess."""
    proc = subprocess.run([str(SCRIPT), *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout)
    return Ran(proc.returncode, proc.stdout, proc.stderr)


def refused(ran: Ran, *words: str, code: int = 2) -> str:
    """Assert a refused run: status `code`, exactly one stderr line "layersynth: error: ..."
    holding every one of `words`, no traceback anywhere; return that line."""
    lines = ran.err.strip().splitlines()
    assert ran.code == code, (ran.code, ran.err[-2000:])
    assert len(lines) == 1, ran.err
    assert "Traceback" not in ran.err and "Traceback" not in ran.out
    assert lines[0].startswith("layersynth: error: "), lines[0]
    for word in words:
        assert str(word) in lines[0], (word, lines[0])
    return lines[0]


def tiny_dataset(root: Path, *extra: str) -> Path:
    """The shared tiny dataset (TINY options, `extra` appended) made by `layersynth generate`
    in this process (its output goes to pytest's capture)."""
    assert main(["generate", *TINY, "--out", str(root), *extra]) == 0
    return root


def sized_dataset(root: Path, *, frames: int, height: int, width: int, n: int = 2) -> Path:
    """A dataset of fake sequences of any size (generate refuses frames under 16 px)."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    manifest.save(root, manifest.new({"preset": "fake"}, shard_size=n, n=n,
                                     generator_version="test"))
    with ShardWriter(root / manifest.shard_name(0), shard_index=0, settings={"preset": "fake"},
                     generator_version="test") as writer:
        for i in range(n):
            writer.add(manifest.seq_id(i), fake_arrays(rng, k=1, t=frames, h=height, w=width),
                       {"seed": {"entropy": 0, "spawn_key": [0, i]}})
    manifest.put_entry(root, writer.entry)
    return root


def snapshot(folder: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under `folder` but lock files (a run may leave the
    lock file of `folder_lock` behind: that is its design, not a partial output)."""
    if not folder.exists():
        return {}
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith(".lock")}


def leftovers(folder: Path) -> list[str]:
    """Temporary files and folders a run left under `folder` (`*.tmp-*`, staging folders)."""
    return sorted(p.name for p in folder.rglob("*") if ".tmp-" in p.name or "-tmp-" in p.name)


# --- damaged manifests ---------------------------------------------------------------------------

def _set(key, value):
    return lambda d: d.update({key: value})


def _drop(key):
    return lambda d: d.pop(key)


def _entry(key, value):
    return lambda d: d["shards"][0].update({key: value})


def _settings_as_text(d):
    d["settings"] = json.dumps(d["settings"])


def _duplicate_ids(d):
    d["shards"][1]["ids"] = list(d["shards"][0]["ids"])


# id: (change to the manifest's JSON (a function changing it in place, or the file's new text),
# words the one error line must hold)
MANIFEST_CASES: dict[str, tuple[Callable | str, tuple[str, ...]]] = {
    "not-json": ("{truncated", ("manifest.json", "unreadable")),
    "a-json-list": ("[1, 2]", ("manifest.json", "not a layersynth manifest")),
    "format-missing": (_drop("format"), ("manifest.json", "not a layersynth manifest")),
    "schema-version-list": (_set("schema_version", [1]), ("manifest.json", "schema_version",
                                                           "integer")),
    "schema-version-1.5": (_set("schema_version", 1.5), ("manifest.json", "schema_version", "1.5")),
    "schema-version-99": (_set("schema_version", 99), ("manifest.json", "schema version 99")),
    "schema-version-missing": (_drop("schema_version"), ("manifest.json", "schema_version",
                                                         "missing")),
    "n-missing": (_drop("n"), ("manifest.json", "n: missing")),
    "n-negative": (_set("n", -4), ("manifest.json", "n: expected an integer >= 0", "-4")),
    "n-string": (_set("n", "4"), ("manifest.json", "n: expected an integer", '"4"')),
    "n-boolean": (_set("n", True), ("manifest.json", "n: expected an integer")),
    "shard-size-zero": (_set("shard_size", 0), ("manifest.json", "shard_size")),
    "settings-missing": (_drop("settings"), ("manifest.json", "settings: missing")),
    "settings-text": (_settings_as_text, ("manifest.json", "settings: expected an object")),
    "shards-missing": (_drop("shards"), ("manifest.json", "shards: missing")),
    "shards-object": (_set("shards", {}), ("manifest.json", "shards: expected a list")),
    "shard-entry-number": (lambda d: d["shards"].__setitem__(0, 7),
                           ("manifest.json", "shards[0]: expected a shard entry")),
    "file-missing": (lambda d: d["shards"][0].pop("file"), ("manifest.json", "shards[0].file")),
    "file-number": (_entry("file", 3), ("manifest.json", "shards[0].file")),
    "file-outside": (_entry("file", "../../etc/passwd"), ("manifest.json", "shards[0].file",
                                                          "inside the dataset folder")),
    "ids-numbers": (_entry("ids", [0, 1]), ("manifest.json", "shards[0].ids")),
    "ids-text": (_entry("ids", "000000"), ("manifest.json", "shards[0].ids")),
    "ids-twice": (_duplicate_ids, ("manifest.json", "also listed")),
    "index-negative": (_entry("index", -1), ("manifest.json", "shards[0].index")),
    "bytes-string": (_entry("bytes", "big"), ("manifest.json", "shards[0].bytes")),
    "arrays-missing": (lambda d: d["shards"][0].pop("arrays"), ("manifest.json",
                                                               "shards[0].arrays")),
    "estimated-flow-list": (_set("estimated_flow", ["dis"]), ("manifest.json",
                                                             "estimated_flow")),
}


def damaged_copy(good: Path, dst: Path, change: Callable | str) -> Path:
    """A copy of dataset `good` at `dst` whose manifest.json is changed by `change`."""
    shutil.copytree(good, dst)
    path = dst / manifest.MANIFEST
    if isinstance(change, str):
        path.write_text(change)
    else:
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))
    return dst


# --- small file systems --------------------------------------------------------------------------

def _mount(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *args], capture_output=True, text=True)


@contextlib.contextmanager
def tmpfs(folder: Path, size: str = "1m") -> Iterator[Path]:
    """A tmpfs of `size` mounted on `folder` (made) for the block; skips the test where mounting
    is not allowed (not root, no mount command, a container without the capability)."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        done = _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder))
    except OSError as err:
        pytest.skip(f"cannot mount a tmpfs: {err}")
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip() or done.returncode}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(folder: Path, leave: int = 40 * 1024) -> None:
    """Fill the file system of `folder` with one file (`filler`) until `leave` bytes are free."""
    stat = os.statvfs(folder)
    free = stat.f_bavail * stat.f_frsize
    with open(folder / "filler", "wb") as fh:
        fh.write(b"\0" * max(0, free - leave))


def make_read_only(folder: Path) -> None:
    """Remount the tmpfs on `folder` read-only (root ignores permission bits, so chmod 0o555
    would prove nothing); skips the test where remounting is not allowed."""
    done = _mount("-o", "remount,ro", str(folder))
    if done.returncode:
        pytest.skip(f"cannot remount read-only: {done.stderr.strip() or done.returncode}")
