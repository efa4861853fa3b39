"""The one reader of layersynth shards: `open_dataset(folder)` -> Dataset, and Shard for one file.

Every file is version-checked on opening (`schema.check_version`); arrays come back decoded
(flows as float32 pixels, `schema.decode`). Chunks hold one frame, so reading a clip window reads
only its own frames.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from layersynth.store import manifest
from layersynth.store.schema import (
    ESTIMATED_FLOW_PREFIX,
    ShardError,
    check_version,
    contents,
    decode,
    field_of,
    get_text,
    is_flow,
)


def _open_h5(path: Path):
    import h5py  # heavy: only when a shard is opened (`import layersynth` stays light)
    import hdf5plugin  # noqa: F401  (registers the Blosc filter for reading; loads h5py too)

    try:
        return h5py.File(path, "r")
    except FileNotFoundError as err:
        raise ShardError(f"{path}: shard file is missing") from err
    except OSError as err:
        raise ShardError(f"{path}: not a readable HDF5 file (truncated or corrupt?): {err}") \
            from err


def _window(name: str, frames: slice | None) -> tuple:
    """HDF5 selection of `frames` along the T axis of an array (everything if None or no T)."""
    axes = field_of(name).axes.split(",")
    if frames is None or "T" not in axes:
        return ()
    return (slice(None),) * axes.index("T") + (frames,)


class Shard:
    """Read access to one shard file (opened and version-checked on construction)."""

    def __init__(self, path):
        self.path = Path(path)
        self._file = _open_h5(self.path)
        try:
            check_version(self.path, self._file.attrs)
            self.settings = json.loads(get_text(self._file.attrs, "settings"))
            self.ids = sorted(self._file.keys())
        except (KeyError, OSError, ValueError) as err:
            self._file.close()
            raise ShardError(f"{self.path}: unreadable shard header: {err}") from err

    def arrays(self, seq_id: str) -> list[str]:
        return sorted(self._group(seq_id).keys())

    def contents(self) -> tuple[list[str], list[str]]:
        """(sequence ids, arrays every sequence holds), both sorted: what the manifest lists."""
        return contents(self._file)

    def read(self, seq_id: str, names=None, frames: slice | None = None) -> dict[str, np.ndarray]:
        """Decoded arrays of one sequence (all, or only `names`; only `frames` along T if given:
        chunks hold one frame, so a clip window reads only its own frames)."""
        group = self._group(seq_id)
        names = sorted(group.keys()) if names is None else list(names)
        missing = [n for n in names if n not in group]
        if missing:
            raise KeyError(f"{self.path}: sequence {seq_id} has no array {missing[0]!r}")
        try:
            return {n: decode(n, group[n][_window(n, frames)]) for n in names}
        except (OSError, ValueError) as err:
            raise ShardError(f"{self.path}: sequence {seq_id} cannot be decoded: {err}") from err

    def read_stored(self, seq_id: str) -> dict[str, np.ndarray]:
        """Arrays exactly as stored (flows still int16): what `validate --deep` compares."""
        group = self._group(seq_id)
        try:
            return {n: group[n][()] for n in sorted(group.keys())}
        except (OSError, ValueError) as err:
            raise ShardError(f"{self.path}: sequence {seq_id} cannot be decoded: {err}") from err

    def record(self, seq_id: str) -> dict:
        try:
            return json.loads(get_text(self._group(seq_id).attrs, "record"))
        except (KeyError, OSError, ValueError) as err:
            raise ShardError(f"{self.path}: sequence {seq_id} has no readable record") from err

    def _group(self, seq_id: str):
        if seq_id not in self.ids:
            raise KeyError(f"{self.path}: no sequence {seq_id!r}")
        try:
            return self._file[seq_id]
        except (KeyError, OSError) as err:
            raise ShardError(f"{self.path}: sequence {seq_id} is unreadable: {err}") from err

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Shard:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Dataset:
    """Reader of a generated folder: `.ids`, `len()`, `ds[id]` -> dict of decoded numpy arrays.

    `ds[id]` returns every array of the sequence (rgb, amodal, modal, occluder, flow_gt, order and
    any `flow_<method>`); `ds.read(id, names, frames=slice(a, b))` reads only some arrays and/or
    frames (cheaper for a trainer);
    `ds.record(id)` returns its seed, scene parameters and statistics. Open files are cached per
    process (safe for DataLoader workers that fork), at most `max_open` at a time.
    """

    def __init__(self, root, *, max_open: int = 8):
        self.root = Path(root)
        self.manifest = manifest.load(self.root)
        self.settings: dict = self.manifest["settings"]
        self._where = {i: e["file"] for e in self.manifest["shards"] for i in e["ids"]}
        self.ids: list[str] = sorted(self._where)
        self._open: OrderedDict[str, Shard] = OrderedDict()
        self._pid = os.getpid()
        self._max_open = max_open

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, seq_id: object) -> bool:
        return seq_id in self._where

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def __getitem__(self, seq_id: str) -> dict[str, np.ndarray]:
        return self.read(seq_id)

    def read(self, seq_id: str, names=None, frames: slice | None = None) -> dict[str, np.ndarray]:
        return self.shard_of(seq_id).read(seq_id, names, frames)

    def record(self, seq_id: str) -> dict:
        return self.shard_of(seq_id).record(seq_id)

    @property
    def flow_methods(self) -> list[str]:
        """Flows present in every shard: "gt" first, then estimated ones ("dis", "raft")."""
        common = set.intersection(*(set(e["arrays"]) for e in self.manifest["shards"])) if (
            self.manifest["shards"]) else {"flow_gt"}
        names = sorted(n[len(ESTIMATED_FLOW_PREFIX):] for n in common if is_flow(n))
        return sorted(names, key=lambda m: (m != "gt", m))

    def shard_of(self, seq_id: str) -> Shard:
        if seq_id not in self._where:
            raise KeyError(f"{self.root}: no sequence {seq_id!r}")
        if os.getpid() != self._pid:  # forked: h5py handles must not cross processes
            self._open, self._pid = OrderedDict(), os.getpid()
        name = self._where[seq_id]
        if name not in self._open:
            self._open[name] = Shard(self.root / name)
            if len(self._open) > self._max_open:
                self._open.popitem(last=False)[1].close()
        self._open.move_to_end(name)
        return self._open[name]

    def close(self) -> None:
        for shard in self._open.values():
            shard.close()
        self._open.clear()

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_dataset(path) -> Dataset:
    """The reader of a generated folder (see `Dataset`); raises ShardError naming a bad file."""
    return Dataset(path)
