"""HDF5 shards: the one writer of the schema in `layersynth.store.schema`.

`ShardWriter` writes a new shard under a temporary name and renames it into place when complete;
`add_arrays` adds estimated flows to an existing shard by rewriting it atomically. The reader is
`layersynth.store.reader` (`layersynth.open_dataset`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from layersynth.store.reader import Shard
from layersynth.store.schema import (
    SCHEMA_VERSION,
    SHARD_FORMAT,
    check_sequence,
    encode,
    is_flow,
    set_text,
)


def _compression() -> dict:
    import hdf5plugin

    return dict(hdf5plugin.Blosc(cname="zstd", clevel=1, shuffle=hdf5plugin.Blosc.BITSHUFFLE))


def _chunks(name: str, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """One frame per chunk (one layer-frame for amodal): a clip window reads only its frames."""
    if len(shape) < 2 or 0 in shape:
        return None
    lead = 2 if name == "amodal" else 1
    return (1,) * lead + tuple(shape[lead:])


def tmp_name(path: Path) -> Path:
    """A temporary name beside `path`, unique per process: partial files never look finished."""
    return path.with_name(f"{path.name}.tmp-{os.getpid()}")


def _fsync_replace(tmp: Path, path: Path) -> None:
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_sequence(group, arrays: Mapping[str, np.ndarray], record: dict) -> None:
    """Write one sequence into an open h5py group (arrays in sorted order: reproducible bytes)."""
    clipped = {}
    for name in sorted(arrays):
        stored, n_clipped = encode(name, arrays[name])
        write_array(group, name, stored)
        if n_clipped:
            clipped[name] = n_clipped
    record = dict(record, clipped=clipped) if clipped else record
    set_text(group.attrs, "record", json.dumps(record, sort_keys=True))


def write_array(group, name: str, stored: np.ndarray) -> None:
    """One already-encoded array, with the schema's chunking and compression."""
    chunks = _chunks(name, stored.shape)
    extra = _compression() if chunks else {}
    dataset = group.create_dataset(name, data=stored, chunks=chunks, track_times=False, **extra)
    # Chunks get their file offsets when the chunk cache is flushed, which h5py otherwise does
    # when the dataset object is released; a Dask worker thread may release it late, giving the
    # same arrays at other offsets (other shard bytes). Flushing here fixes the layout.
    dataset.flush()


class ShardWriter:
    """Write one shard under a temporary name; `close()` renames it into place when complete.

    Usage: `with ShardWriter(path, shard_index=j, settings=s, generator_version=v) as w:
    w.add(seq_id, arrays, record)`. Leaving the block by an exception removes the temporary file,
    so `path` exists only when every sequence was written.
    """

    def __init__(self, path, *, shard_index: int, settings: dict, generator_version: str):
        import h5py

        self.path = Path(path)
        self.tmp = tmp_name(self.path)
        self.ids: list[str] = []
        self._file = h5py.File(self.tmp, "w")
        attrs = self._file.attrs
        set_text(attrs, "format", SHARD_FORMAT)
        attrs["schema_version"] = SCHEMA_VERSION
        set_text(attrs, "generator_version", generator_version)
        attrs["shard_index"] = shard_index
        set_text(attrs, "settings", json.dumps(settings, sort_keys=True))

    def add(self, seq_id: str, arrays: Mapping[str, np.ndarray], record: dict) -> None:
        check_sequence(arrays)
        write_sequence(self._file.create_group(seq_id), arrays, dict(record, id=seq_id))
        self.ids.append(seq_id)

    def close(self) -> Path:
        self._file.close()
        _fsync_replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        self._file.close()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def add_arrays(root, shard_file: str, new: Mapping[str, Mapping[str, np.ndarray]]) -> dict:
    """Add (or replace) arrays of sequences of one shard, atomically; update manifest.json.

    `new` maps a sequence id to {name: array} with decoded values (flows float32 px), e.g.
    {"000017": {"flow_dis": flow}}. The shard is rewritten to a temporary file (existing arrays
    copied as stored, without decoding) and renamed over the old one; then the manifest entry's
    checksum, size and array list are updated. Returns the new manifest entry.
    """
    from layersynth.store import manifest

    root = Path(root)
    path = root / shard_file
    with Shard(path) as shard:
        unknown = sorted(set(new) - set(shard.ids))
        if unknown:
            raise KeyError(f"{path}: no sequences {unknown}")
        try:
            _rewrite(shard, tmp_name(path), new)
        except BaseException:
            tmp_name(path).unlink(missing_ok=True)
            raise
    _fsync_replace(tmp_name(path), path)
    return manifest.refresh_entry(root, shard_file)


def _rewrite(shard: Shard, tmp: Path, new: Mapping[str, Mapping[str, np.ndarray]]) -> None:
    import h5py

    src = shard._file
    with h5py.File(tmp, "w") as dst:
        for key in src.attrs:
            dst.attrs.create(key, src.attrs[key])
        for seq_id in shard.ids:
            group = dst.create_group(seq_id)
            group.attrs.create("record", src[seq_id].attrs["record"])
            added = new.get(seq_id, {})
            for name in sorted(set(src[seq_id].keys()) | set(added)):
                if name in added:
                    ref = src[seq_id]["flow_gt"].shape if is_flow(name) else None
                    if ref is not None and added[name].shape != ref:
                        raise ValueError(f"{name}: shape {added[name].shape} != flow_gt {ref}")
                    write_array(group, name, encode(name, added[name])[0])
                else:
                    src.copy(src[seq_id][name], group, name=name)
