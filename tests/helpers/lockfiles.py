"""Fake dataset copies and lock files for the tests of `layersynth datasets` and `fetch`.

On the test path through pytest's `pythonpath` setting (pyproject.toml): `from lockfiles import
write_lock`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

CLIPS = {"a.mp4": b"A" * 3000, "sub/b.mp4": bytes(range(256)) * 20, "c.mp4": b"cc" * 700}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_lock(path: Path, name: str, files: dict[str, bytes], *, base_url: str | None = None,
               access: str = "free", archives: list | None = None, scope=("**",)) -> Path:
    """A datasets.lock at `path` with one dataset `name` whose files are `files` (path: bytes)."""
    entries = [{"path": p, "size": len(b), "sha256": sha(b), "md5": "unknown",
                **({"url": f"{base_url}/{p}"} if base_url else {})} for p, b in files.items()]
    spec = {"title": "fake", "version": "1", "licence": "CC0", "access": access,
            "get": "ask the authors", "scope": list(scope), "files": entries,
            "archives": archives or []}
    path.write_text(json.dumps({"lock_version": 1, "datasets": {name: spec}}))
    return path


def fake_copy(root: Path, files: dict[str, bytes]) -> Path:
    """Write `files` (relative path: bytes) under `root`; returns root."""
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root
