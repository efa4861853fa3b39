"""manifest.json: the list of finished shards of a dataset, their sequence ids and checksums.

    {"format": "layersynth-dataset", "schema_version": 1, "generator_version": "0.1.0",
     "settings": {...},          # everything that decides content (see generate.Settings)
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

from layersynth.store.schema import SCHEMA_VERSION, ShardError

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


def new(settings: dict, *, shard_size: int, n: int, generator_version: str) -> dict:
    return {
        "format": DATASET_FORMAT,
        "schema_version": SCHEMA_VERSION,
        "generator_version": generator_version,
        "settings": settings,
        "shard_size": shard_size,
        "n": n,
        "shards": [],
    }


def load(root) -> dict:
    """Read and check `root/manifest.json`; raise ShardError naming the file if it is unusable."""
    path = Path(root) / MANIFEST
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as err:
        raise ShardError(f"{path}: no manifest (not a layersynth dataset folder?)") from err
    except (OSError, ValueError) as err:
        raise ShardError(f"{path}: unreadable manifest: {err}") from err
    if not isinstance(data, dict) or data.get("format") != DATASET_FORMAT:
        raise ShardError(f"{path}: not a layersynth manifest")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ShardError(
            f"{path}: schema version {data.get('schema_version')} is not the version this "
            f"layersynth reads ({SCHEMA_VERSION})"
        )
    return data


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
