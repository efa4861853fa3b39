"""manifest.json: the list of finished shards of a dataset, their sequence ids and checksums.

    {"format": "layersynth-dataset", "schema_version": 2, "generator_version": "0.1.0",
     "settings": {...},          # everything that decides content (see generate.Settings)
     "gaps": [1, 2],             # frame gaps of every flow (version 2; version 1: none, i.e. [1])
     "shard_size": 16,           # S: shard j holds ids [j*S, (j+1)*S)
     "n": 4000,                  # sequences asked for (the dataset is complete when all are listed)
     "shards": [{"file": "shard-00000.h5", "index": 0, "ids": ["000000", ...],
                 "sha256": "...", "bytes": 1234, "arrays": ["amodal", "flow_gt", ...]}, ...],
     "estimated_flow": {"raft": {"weights": ..., "weights_sha256": ..., "iters": 20, ...}}}
                                 # settings of each `layersynth flow` pass (absent until one ran)

A shard is listed only after it was renamed into place, so the manifest never names a partial file.
Every write goes to a temporary name and is renamed (atomic on POSIX); writers that may run at the
same time as others (adding estimated flow) take an exclusive lock on `.manifest.lock`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from layersynth.store.gaps import DEFAULT_GAPS, check_gaps
from layersynth.store.schema import READABLE_VERSIONS, SCHEMA_VERSION, ShardError

MANIFEST = "manifest.json"
DATASET_FORMAT = "layersynth-dataset"


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.h5"


def seq_id(index: int) -> str:
    """Sequence id of sequence `index`: zero-padded to 6 digits (more digits past 999,999)."""
    return f"{index:06d}"


def sha256_file(path, block: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(block), b""):
            digest.update(chunk)
    return digest.hexdigest()


def new(settings: dict, *, shard_size: int, n: int, generator_version: str,
        gaps: tuple[int, ...] = DEFAULT_GAPS) -> dict:
    return {
        "format": DATASET_FORMAT,
        "schema_version": SCHEMA_VERSION,
        "generator_version": generator_version,
        "settings": settings,
        "gaps": list(check_gaps(gaps)),
        "shard_size": shard_size,
        "n": n,
        "shards": [],
    }


def gaps_of(data: dict) -> tuple[int, ...]:
    """The flow gaps of a checked manifest (`load`, which requires them from version 2 on): its
    `gaps`, or (1,) for version 1, which records none."""
    return tuple(data.get("gaps", DEFAULT_GAPS))


def load(root) -> dict:
    """Read and check `root/manifest.json` (`check`); raise ShardError naming the file and the
    problem if it is unusable."""
    root = Path(root)
    path = root / MANIFEST
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "no such folder"
        raise ShardError(f"{root}: {what} (expected a dataset folder holding {MANIFEST})")
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as err:
        raise ShardError(f"{path}: no manifest (not a layersynth dataset folder?)") from err
    except (OSError, ValueError) as err:
        raise ShardError(f"{path}: unreadable manifest: {err}") from err
    check(path, data)
    return data


def check(path, data) -> None:
    """Refuse (ShardError "manifest.json: n: expected an integer >= 0, got str '4'") a manifest
    that breaks the schema of this module's docstring. Keys it does not know are kept, unchecked:
    a newer writer may add some."""
    if not isinstance(data, dict) or data.get("format") != DATASET_FORMAT:
        raise ShardError(f"{path}: not a layersynth manifest")
    version = _field(path, data, "schema_version", _is_int, "an integer")
    if version not in READABLE_VERSIONS:
        raise ShardError(f"{path}: schema version {version} is not a version this layersynth "
                         f"reads ({' or '.join(map(str, READABLE_VERSIONS))})")
    if version >= 2:
        _field(path, data, "gaps", _is_gaps, "a list of distinct positive integers")
    _field(path, data, "generator_version", _is(str), "a string")
    _field(path, data, "settings", _is(dict), "an object")
    _field(path, data, "shard_size", lambda v: _is_int(v) and v >= 1, "an integer >= 1")
    _field(path, data, "n", lambda v: _is_int(v) and v >= 0, "an integer >= 0")
    shards = _field(path, data, "shards", _is(list), "a list of shard entries")
    if "estimated_flow" in data:
        _field(path, data, "estimated_flow", lambda v: isinstance(v, dict) and all(
            isinstance(o, dict) for o in v.values()), "an object of estimator settings")
    seen: dict[str, str] = {}
    for j, entry in enumerate(shards):
        _check_entry(path, f"shards[{j}]", entry, seen)
    indices = [e["index"] for e in shards]
    if len(set(indices)) != len(indices):
        raise ShardError(f"{path}: shards: two entries have the same index")


ENTRY_FIELDS = {  # key of a shard entry: (test, what it must be)
    "file": (lambda v: isinstance(v, str) and v not in ("", ".", "..") and "/" not in v
             and "\\" not in v, "a file name inside the dataset folder"),
    "index": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "ids": (lambda v: isinstance(v, list) and all(isinstance(i, str) and i for i in v),
            "a list of sequence ids (strings)"),
    "arrays": (lambda v: isinstance(v, list) and all(isinstance(a, str) for a in v),
               "a list of array names (strings)"),
    "sha256": (lambda v: isinstance(v, str) and len(v) == 64
               and all(c in "0123456789abcdef" for c in v), "64 hex digits"),
    "bytes": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
}


def _check_entry(path, where: str, entry, seen: dict[str, str]) -> None:
    """One shard entry; `seen` maps each sequence id met so far to the shard listing it."""
    if not isinstance(entry, dict):
        raise ShardError(f"{path}: {where}: expected a shard entry (an object), got "
                         f"{_shown(entry)}")
    for key, (test, expected) in ENTRY_FIELDS.items():
        _field(path, entry, key, test, expected, f"{where}.")
    for seq in entry["ids"]:
        if seq in seen:
            raise ShardError(f"{path}: {where}.ids: sequence {seq} is also listed in "
                             f"{seen[seq]}")
        seen[seq] = entry["file"]


def _field(path, data: dict, key: str, test, expected: str, prefix: str = ""):
    if key not in data:
        raise ShardError(f"{path}: {prefix}{key}: missing (expected {expected})")
    value = data[key]
    if not test(value):
        raise ShardError(f"{path}: {prefix}{key}: expected {expected}, got {_shown(value)}")
    return value


def _is_gaps(value) -> bool:
    try:
        return isinstance(value, list) and check_gaps(value) is not None
    except ValueError:
        return False


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is(kind: type):
    return lambda value: isinstance(value, kind)


def _shown(value) -> str:
    """`str '4'`, `list [1]`: the JSON type and a short view of a value."""
    kinds = {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null",
             int: "integer", float: "number"}
    text = json.dumps(value)
    return f"{kinds.get(type(value), type(value).__name__)} {text[:40]}" + (
        "..." if len(text) > 40 else "")


def save(root, data: dict) -> None:
    """Write the manifest atomically (shards sorted by index)."""
    path = Path(root) / MANIFEST
    data = dict(data, shards=sorted(data["shards"], key=lambda e: e["index"]))
    tmp = path.with_name(f"{MANIFEST}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


@contextlib.contextmanager
def locked(root) -> Iterator[None]:
    """Exclusive lock for a read-modify-write of the manifest."""
    with open(Path(root) / ".manifest.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def shard_entry(*, file: str, index: int, ids: list[str], arrays: list[str], sha256: str,
                size: int) -> dict:
    """The entry of one finished shard, from what its writer wrote: file name, shard index,
    sequence ids and the arrays every sequence holds (both sorted), sha256 and size in bytes."""
    return {"file": file, "index": index, "ids": ids, "sha256": sha256, "bytes": size,
            "arrays": arrays}


def listed(root, file: str) -> dict:
    """The entry manifest.json holds for `file`; ShardError if it lists no such shard."""
    found = next((e for e in load(root)["shards"] if e["file"] == file), None)
    if found is None:
        raise ShardError(f"{Path(root) / MANIFEST}: does not list {file}")
    return found


def put_entry(root, new_entry: dict) -> None:
    """Insert or replace the entry of one shard (under the lock)."""
    with locked(root):
        data = load(root)
        shards = [e for e in data["shards"] if e["index"] != new_entry["index"]]
        save(root, dict(data, shards=[*shards, new_entry]))


def record_estimator(root, method: str, options: dict) -> None:
    """Note which estimator settings made the `flow_<method>` arrays (under the lock), so a
    dataset says which RAFT weights and iterations its training flow came from."""
    with locked(root):
        data = load(root)
        made = dict(data.get("estimated_flow", {}), **{method: options})
        save(root, dict(data, estimated_flow=made))


def expected_ids(index: int, shard_size: int, n: int) -> list[str]:
    """Ids shard `index` holds in a dataset of n sequences: [j*S, min((j+1)*S, n))."""
    return [seq_id(i) for i in range(index * shard_size, min((index + 1) * shard_size, n))]


def n_shards(n: int, shard_size: int) -> int:
    return -(-n // shard_size)
