"""bench/learning_check.py's data step: a folder another process is generating is waited for,
never deleted (two checks started on one --out once wiped each other's training set)."""

import importlib.util
from pathlib import Path

import pytest
from layersynth.store import folder_lock

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _learning_check():
    """The script as a module, loaded from its file (it imports only installed packages)."""
    spec = importlib.util.spec_from_file_location("learning_check", BENCH / "learning_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_folder_held_by_another_generation_is_not_deleted(tmp_path):
    lc = _learning_check()
    out = tmp_path / "train"
    out.mkdir()
    (out / "shard-00000.h5").write_bytes(b"being written by the other process")
    with folder_lock.hold(out, "layersynth generate"):
        with pytest.raises(folder_lock.FolderInUse, match="in use by layersynth generate"):
            lc.generate(out, 2, 0, wait=0.0)
    assert (out / "shard-00000.h5").read_bytes() == b"being written by the other process"
