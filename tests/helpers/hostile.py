"""Hostile inputs for the tests of oclr's command lines: a checkpoint whose unpickling would run
code, a checkpoint as the older oclr wrote it, damaged files, a folder nobody may write in.

On the test path through pytest's `pythonpath` setting: `from hostile import plant_payload`.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import random
import re
from pathlib import Path

import numpy as np
import pytest
import torch


class Payload:
    """Unpickling this creates `marker` (builtins.open(marker, "w")): proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def plant_payload(path: Path, marker: Path) -> Path:
    """A file shaped like an oclr checkpoint (saved with torch.save) whose "model" entry would, if
    unpickled, create `marker`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": 2, "model": Payload(marker), "model_config": {}, "step": 1,
                "train_config": {}}, path)
    return path


def format_1_checkpoint(path: Path, model: torch.nn.Module) -> Path:
    """A checkpoint as the older oclr (format 1) saved one: numpy's random state pickled as its
    legacy tuple holding an ndarray, python's as a tuple."""
    torch.save({"format": 1, "model": model.state_dict(), "model_config": model.cfg.to_dict(),
                "step": 1, "rng": {"torch": torch.get_rng_state(),
                                   "numpy": np.random.get_state(),  # noqa: NPY002
                                   "python": random.getstate()}}, path)
    return path


def damaged_files(folder: Path, good: Path) -> dict[str, Path]:
    """Broken stand-ins for the checkpoint `good`, by what is wrong: empty, truncated (half of
    it), garbage bytes, a plain pickle; written into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    data = good.read_bytes()
    files = {"empty": b"", "truncated": data[: len(data) // 2], "garbage": b"not a checkpoint",
             "pickle": pickle.dumps({"model": {}, "model_config": {}})}
    out = {}
    for name, content in files.items():
        out[name] = folder / f"{name}.pt"
        out[name].write_bytes(content)
    return out


def digest(path: Path) -> str:
    """sha256 of a file: that earlier good data was left intact."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot create files in: a read-only one under tmp_path, or (as root,
    whom permissions do not stop) one under /sys. Skips the test when there is none."""
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o500)
        return folder / "run"
    folder = Path("/sys/oclr-test-run")
    try:
        folder.mkdir()
    except OSError:
        return folder
    folder.rmdir()
    pytest.skip("no unwritable folder on this machine")


def refused(code: int, out: str, err: str, prog: str) -> str:
    """The one stderr line of a refused run: exit 2, `PROG: error: ...`, no traceback anywhere
    (stdout included), nothing else on stderr. Returns the line."""
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, (code, err)
    assert "Traceback" not in out + err and lines[0].startswith(f"{prog}: error: ")
    return lines[0]


def folder_digests(folder: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under `folder` but the lock file (which a refused
    run may create or rewrite): that a refused run left earlier data as it was."""
    return {str(p.relative_to(folder)): digest(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def failed_midway(code: int, out: str, err: str, prog: str) -> str:
    """The error line of a run that failed after its work began: exit 2, no traceback, the error
    last on stderr after nothing but progress lines ("windows: 3/3 done, 0.6 s"). Returns it."""
    lines = err.strip().splitlines()
    assert code == 2 and lines and "Traceback" not in out + err, (code, err)
    assert all(re.search(r": \d+/\d+ done", line) for line in lines[:-1]), err
    assert lines[-1].startswith(f"{prog}: error: ")
    return lines[-1]
