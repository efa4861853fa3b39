"""A dataset folder made or reopened for a run: refusals, the manifest written first, and which
listed shards a resumed run keeps. Shared by `generate` (`generation.plan`) and `import`.

A re-run keeps the shards the manifest lists with the ids they should hold and the sha256 it lists,
says on stderr which listed shard it found damaged and makes it again; a folder of other settings,
of an older shard schema, or holding more sequences than asked is refused (UsageError).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from layersynth.errors import UsageError
from layersynth.report import warn
from layersynth.store import manifest
from layersynth.store.folder_lock import LOCK_NAME
from layersynth.store.gaps import DEFAULT_GAPS


def prepare(out: Path, settings: dict, *, shard_size: int, n: int,
            generator_version: str, gaps: tuple[int, ...] = DEFAULT_GAPS) -> set[int]:
    """Make or reopen the dataset folder `out` for n sequences made with `settings`; return the
    indices of the listed shards that are kept (`_keep`). Shared by `generate` and `import`.

    Refuses (UsageError) a non-empty folder that is not a dataset, a dataset made with other
    settings or of an older shard schema, or an n smaller than the dataset already holds. Writes
    the manifest first, so an interrupted run is recognised by the next one, and removes partial
    files of earlier runs. `gaps`: the flow gaps every shard will hold (manifest "gaps").
    """
    make_folder(out)
    if (out / manifest.MANIFEST).exists():
        data = manifest.load(out)
        refuse_older_schema(out, data)
        refuse_other_settings(out, data["settings"], settings)
        if n < data["n"]:
            raise UsageError(f"{out}: holds a dataset of {data['n']} sequences; --n {n} would "
                             "drop some (use --n >= that, or a new folder)")
    elif any(p.name != LOCK_NAME for p in out.iterdir()):
        raise UsageError(f"{out}: folder is not empty and has no manifest.json; choose an empty "
                         "or new folder")
    else:
        data = manifest.new(settings, shard_size=shard_size, n=n,
                            generator_version=generator_version, gaps=gaps)
    manifest.save(out, dict(data, n=n))
    for stale in out.glob("*.tmp-*"):  # partial files of an interrupted run
        stale.unlink(missing_ok=True)
    return {e["index"] for e in data["shards"] if _keep(out, e, shard_size, n)}


def make_folder(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"{out}: cannot create the output folder ({err.strerror})") from err


def _keep(out: Path, entry: dict, shard_size: int, n: int) -> bool:
    """Whether a listed shard is kept: it holds the ids it should and its file is the one listed
    (size, then sha256: a flipped byte keeps the size). A damaged or missing file is said on
    stderr and made again; a shard that only grows with a larger --n is remade silently."""
    if entry["ids"] != manifest.expected_ids(entry["index"], shard_size, n):
        return False
    path = out / entry["file"]
    if not path.exists():
        problem = "missing"
    elif path.stat().st_size != entry["bytes"]:
        problem = f"{path.stat().st_size} bytes where manifest.json lists {entry['bytes']}"
    elif manifest.sha256_file(path) != entry["sha256"]:
        problem = "sha256 differs from manifest.json"
    else:
        return True
    warn(f"{path}: {problem} (damaged or changed since it was made); making it again")
    return False


def refuse_older_schema(out: Path, data: dict) -> None:
    """A dataset of an older shard schema is read, never extended: its shards would mix versions."""
    if data["schema_version"] != manifest.SCHEMA_VERSION:
        raise UsageError(f"{out}: holds a dataset of shard schema version "
                         f"{data['schema_version']}; this layersynth writes version "
                         f"{manifest.SCHEMA_VERSION}: use a new folder")


def refuse_other_settings(out: Path, old: dict, new: dict) -> None:
    diffs = [f"{k}: {a!r} -> {b!r}" for k, a, b in _differences(old, new)]
    if diffs:
        shown = "; ".join(diffs[:4]) + ("; ..." if len(diffs) > 4 else "")
        code = " (generator_code: layersynth's source changed since)" if any(
            k == "generator_code" for k, _, _ in _differences(old, new)) else ""
        raise UsageError(f"{out}: was generated with other settings ({shown}){code}; re-run with "
                         "the same settings to resume or extend, or use a new folder")


def _differences(old, new, prefix: str = "") -> Iterable[tuple[str, object, object]]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            yield from _differences(old.get(key), new.get(key), f"{prefix}{key}.")
    elif old != new:
        yield prefix.rstrip("."), old, new
