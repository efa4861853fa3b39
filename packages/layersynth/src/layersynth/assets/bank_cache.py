"""The on-disk cache of the built-in procedural banks (silhouettes, textures): one .npz per bank
under $XDG_CACHE_HOME/layersynth (else ~/.cache/layersynth), named by the bank's cache key and
holding its arrays plus a JSON header {key, sha256}.

A file that is missing, damaged (truncated, not an npz) or of another key reads as None, and the
caller rebuilds; the caller checks the sha256 of what it decodes. Writes go to a temporary name
and are renamed into place: concurrent builders write the same bytes, the last rename wins. A
cache that cannot be written is a warning, never an error (the bank was built anyway).
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from layersynth.report import warn


def cache_file(key: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the bank of `key` is cached (`cache_dir` replaces the default folder)."""
    base = Path(cache_dir) if cache_dir else Path(
        os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "layersynth"
    return base / f"{key}.npz"


def read(path: Path, key: str) -> tuple[dict[str, np.ndarray], str] | None:
    """(the arrays, the header's sha256) of a cache file of `key`, else None."""
    try:
        with np.load(path) as z:
            header = json.loads(z["header"].tobytes())
            arrays = {name: z[name] for name in z.files if name != "header"}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if not isinstance(header, dict) or header.get("key") != key:
        return None
    return arrays, header.get("sha256")


def write(path: Path, key: str, sha256: str, arrays: dict[str, np.ndarray], *, compressed: bool,
          what: str) -> None:
    """Cache `arrays` under `path` (atomically); a warning naming `what` if it cannot be."""
    header = np.frombuffer(json.dumps({"key": key, "sha256": sha256}).encode(), np.uint8)
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, header=header, **arrays)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(buf.getvalue())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        warn(f"{path}: {what} not cached ({err})")
