"""HDF5 shards: the on-disk schema (version 1), its one writer and its one reader.

The schema is written once here and once in docs/shards.md; both must change together (a test
checks that every field below is documented there).

Layout of `shard-JJJJJ.h5` (JJJJJ = shard index):

    /                      attrs: format = "layersynth-shard", schema_version, generator_version,
                                  shard_index, settings (JSON text of the dataset's settings)
    /<seq id>/             one group per sequence, id a zero-padded string ("000017");
                           attr `record`: JSON text {"id", "seed": {"entropy", "spawn_key"},
                           "scene": SceneParams.to_dict(), "generator_version", "stats": {...}}
    /<seq id>/<field>      the arrays of FIELDS (and optional `flow_<method>` arrays)

Flow is stored as int16 fixed point, 1/64 px per unit (`FLOW_SCALE`): the quantisation error is at
most 1/128 px (< 0.01 px) for |flow| up to 511.98 px, and it compresses 5x better than float32
(measured, docs/shards.md). `decode` turns it back into float32 pixels; `encode` is the inverse.
Every array is chunked one frame (or one layer-frame) per chunk and compressed with Blosc zstd
level 1 + bit shuffle (hdf5plugin), so a reader must `import hdf5plugin` (done here).
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from layersynth.cliutil import UsageError
from layersynth.sequence import check_arrays

SCHEMA_VERSION = 1
SHARD_FORMAT = "layersynth-shard"
FLOW_SCALE = 1.0 / 64.0  # px per stored unit: error <= 1/128 px
FLOW_LIMIT = 32767 * FLOW_SCALE  # largest |flow| (px) that fits; beyond is clipped and counted
ESTIMATED_FLOW_PREFIX = "flow_"


@dataclass(frozen=True)
class Field:
    """One array of a sequence: axes, dtype on disk, dtype returned by the reader, meaning."""

    axes: str
    stored: str
    decoded: str
    units: str
    meaning: str


FIELDS: dict[str, Field] = {
    "rgb": Field("T,H,W,3", "uint8", "uint8", "0..255 sRGB", "colour frames, channels R, G, B"),
    "amodal": Field(
        "K,T,H,W", "bool", "bool", "mask",
        "full extent of each object layer, occluded parts included; k = 0 the front-most",
    ),
    "modal": Field(
        "T,H,W", "uint8", "uint8", "label",
        "visible layer: 0 background (occluders count as background), k + 1 where layer k shows",
    ),
    "occluder": Field("T,H,W", "bool", "bool", "mask", "pixels covered by an artificial occluder"),
    "flow_gt": Field(
        "T,2,H,W,2", "int16", "float32", f"px (stored x {FLOW_SCALE:g})",
        "exact flow; gap index 0 = +1 (t -> t+1), 1 = -1 (t -> t-1); last axis (u, v), u along W",
    ),
    "order": Field("K", "int16", "int16", "rank", "depth rank of each amodal channel, 0 = front"),
}
ESTIMATED_FLOW = Field(
    "T,2,H,W,2", "int16", "float32", f"px (stored x {FLOW_SCALE:g})",
    "estimated flow (`flow_dis`, `flow_raft`, ...): optional, same conventions as flow_gt",
)


class ShardError(UsageError):
    """A shard or manifest that is missing, corrupt, truncated or of an unknown schema version."""


def field_of(name: str) -> Field:
    """The Field of an array name, estimated flows (`flow_<method>`) included."""
    if name in FIELDS:
        return FIELDS[name]
    if name.startswith(ESTIMATED_FLOW_PREFIX) and len(name) > len(ESTIMATED_FLOW_PREFIX):
        return ESTIMATED_FLOW
    raise KeyError(f"{name!r} is not an array of shard schema {SCHEMA_VERSION}")


def is_flow(name: str) -> bool:
    return name.startswith(ESTIMATED_FLOW_PREFIX)


def encode(name: str, array: np.ndarray) -> tuple[np.ndarray, int]:
    """Array as stored on disk, and the number of flow values clipped to +-FLOW_LIMIT."""
    field = field_of(name)
    if not is_flow(name):
        return np.ascontiguousarray(array, dtype=field.stored), 0
    # float32 is exact here: scaling by 2^6 and rounding to an integer lose nothing
    units = np.multiply(array, np.float32(1.0 / FLOW_SCALE), dtype=np.float32)
    np.rint(units, out=units)
    peak = max(float(units.max(initial=0.0)), -float(units.min(initial=0.0)))
    if not np.isfinite(peak):
        raise ValueError(f"{name}: flow holds NaN or infinite values")
    clipped = 0
    if peak > 32767:
        clipped = int(np.count_nonzero(np.abs(units) > 32767))
        np.clip(units, -32767, 32767, out=units)
    return units.astype(np.int16), clipped


def decode(name: str, stored: np.ndarray) -> np.ndarray:
    """Array as the reader returns it (float32 pixels for flows; exact: FLOW_SCALE is 2^-6)."""
    if is_flow(name):
        flow = stored.astype(np.float32)
        flow *= np.float32(FLOW_SCALE)
        return flow
    return stored


def _compression() -> dict:
    import hdf5plugin

    return dict(hdf5plugin.Blosc(cname="zstd", clevel=1, shuffle=hdf5plugin.Blosc.BITSHUFFLE))


def _chunks(name: str, shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """One frame per chunk (one layer-frame for amodal): a clip window reads only its frames."""
    if len(shape) < 2 or 0 in shape:
        return None
    lead = 2 if name == "amodal" else 1
    return (1,) * lead + tuple(shape[lead:])


def check_sequence(arrays: Mapping[str, np.ndarray]) -> None:
    """Raise ValueError if the arrays break the conventions of sequence.py or the schema."""
    missing = [n for n in FIELDS if n not in arrays]
    if missing:
        raise ValueError(f"missing arrays: {', '.join(missing)}")
    check_arrays(dict(arrays))
    for name, arr in arrays.items():
        field_of(name)
        if is_flow(name) and arr.shape != arrays["flow_gt"].shape:
            ref = arrays["flow_gt"].shape
            raise ValueError(f"{name}: shape {arr.shape} differs from flow_gt {ref}")


def tmp_name(path: Path) -> Path:
    """A temporary name beside `path`, unique per process: partial files never look finished."""
    return path.with_name(f"{path.name}.tmp-{os.getpid()}")


def _fsync_replace(tmp: Path, path: Path) -> None:
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def set_text(attrs, key: str, text: str) -> None:
    """A fixed-length UTF-8 attribute: variable-length strings live in HDF5's global heap, whose
    unused bytes are uninitialised memory, which would make identical content differ in bytes."""
    attrs.create(key, np.bytes_(text.encode("utf-8")))


def get_text(attrs, key: str, default: str | None = None) -> str | None:
    if key not in attrs:
        return default
    value = attrs[key]
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


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


def _open_h5(path: Path, mode: str = "r"):
    import h5py
    import hdf5plugin  # noqa: F401  (registers the Blosc filter for reading)

    try:
        return h5py.File(path, mode)
    except FileNotFoundError as err:
        raise ShardError(f"{path}: shard file is missing") from err
    except OSError as err:
        raise ShardError(f"{path}: not a readable HDF5 file (truncated or corrupt?): {err}") \
            from err


def check_version(path, attrs) -> None:
    """Refuse a shard that is not ours or whose schema version this reader does not know."""
    fmt = get_text(attrs, "format")
    if fmt != SHARD_FORMAT:
        raise ShardError(f"{path}: not a layersynth shard (format attribute {fmt!r})")
    version = int(attrs.get("schema_version", -1))
    if version != SCHEMA_VERSION:
        newer = "newer than" if version > SCHEMA_VERSION else "different from"
        raise ShardError(
            f"{path}: shard schema version {version} is {newer} the version this layersynth "
            f"reads ({SCHEMA_VERSION}); use a matching layersynth or regenerate"
        )


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

    def read(self, seq_id: str, names=None, frames: slice | None = None) -> dict[str, np.ndarray]:
        """Decoded arrays of one sequence (all, or only `names`; only `frames` along T if given:
        chunks hold one frame, so a clip window reads only its own frames)."""
        group = self._group(seq_id)
        names = sorted(group.keys()) if names is None else list(names)
        try:
            return {n: decode(n, group[n][_window(n, frames)]) for n in names}
        except KeyError as err:
            raise KeyError(f"{self.path}: sequence {seq_id} has no array {err}") from err
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
        from layersynth import manifest

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


def add_arrays(root, shard_file: str, new: Mapping[str, Mapping[str, np.ndarray]]) -> dict:
    """Add (or replace) arrays of sequences of one shard, atomically; update manifest.json.

    `new` maps a sequence id to {name: array} with decoded values (flows float32 px), e.g.
    {"000017": {"flow_dis": flow}}. The shard is rewritten to a temporary file (existing arrays
    copied as stored, without decoding) and renamed over the old one; then the manifest entry's
    checksum, size and array list are updated. Returns the new manifest entry.
    """
    from layersynth import manifest

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
