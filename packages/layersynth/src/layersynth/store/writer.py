"""HDF5 shards: the one writer of the schema in `layersynth.store.schema`.

`ShardWriter` writes a new shard under a temporary name and renames it into place when complete;
`add_arrays` adds estimated flows to an existing shard by rewriting it atomically. Both build the
file in memory (HDF5's core driver, no backing store) and write its bytes with plain Python I/O:
libhdf5 is not robust to a write that fails (a full disk crashed the process inside it, for some
data only), so it never writes to the disk here, and a full disk is an ordinary OSError naming the
shard. The bytes are those h5py writes on disk (`test_writer`), but for space that HDF5 would free
at close, which a rewrite can keep. The cost: the finished shard is held in memory, twice while
its bytes are copied out (docs/shards.md, "How a shard reaches the disk"). Both hand the
manifest what they wrote (ids, arrays, checksum, size: `manifest.shard_entry`), so nothing is read
back to list a shard; `relist` does read one, for a file changed outside this module. The reader
is `layersynth.store.reader` (`layersynth.open_dataset`).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from layersynth.store import manifest
from layersynth.store.gaps import DEFAULT_GAPS, check_gaps, encode_attr
from layersynth.store.reader import Shard
from layersynth.store.schema import (
    FILE_FORMAT,
    GAPS_ATTR,
    SCHEMA_VERSION,
    SHARD_FORMAT,
    check_sequence,
    encode,
    frame_order,
    is_flow,
    set_text,
)


def _compression() -> dict:
    import hdf5plugin  # loads h5py: only when a shard is written

    return dict(hdf5plugin.Blosc(cname="zstd", clevel=1, shuffle=hdf5plugin.Blosc.BITSHUFFLE))


def _storage(name: str, shape: tuple[int, ...]) -> dict:
    """create_dataset options of an array: one frame per chunk (one layer-frame for amodal: a
    clip window reads only its frames), Blosc, and a Fletcher-32 checksum per chunk. h5py puts
    `fletcher32` after the compressor in the pipeline, so the checksum covers the compressed bytes
    and HDF5 checks it on read before Blosc decodes them. A 1-D array (`order`, K values) is one
    uncompressed chunk (Blosc would store a few bytes as they are): chunked only so that it
    carries a checksum too; so is `order` (T, K) (a few bytes a frame, read whole)."""
    if 0 in shape or not shape:
        return {}  # nothing to protect; HDF5 refuses chunks of size 0
    if len(shape) == 1 or name == "order":
        return {"chunks": shape, "fletcher32": True}
    lead = 2 if name == "amodal" else 1
    return {"chunks": (1,) * lead + tuple(shape[lead:]), "fletcher32": True, **_compression()}


def tmp_name(path: Path) -> Path:
    """A temporary name beside `path`, unique per process: partial files never look finished."""
    return path.with_name(f"{path.name}.tmp-{os.getpid()}")


def _in_memory(h5py, tmp: Path):
    """A new HDF5 file that lives in memory only (`tmp` names it in HDF5's messages)."""
    return h5py.File(tmp, "w", driver="core", backing_store=False, libver=FILE_FORMAT)


def _save(file, tmp: Path, path: Path) -> None:
    """Close the in-memory `file`, write its bytes to `tmp` (fsynced) and rename that to `path`.
    A failed write (a full disk) removes `tmp` and raises an OSError naming `path`."""
    file.flush()
    image = file.id.get_file_image()
    file.close()  # frees the in-memory copy before the disk is touched
    try:
        with open(tmp, "wb") as fh:
            fh.write(image)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno is not None and err.filename is None:
            raise OSError(err.errno, err.strerror, str(path)) from err  # write() names no file
        raise


def _entry(path: Path, index: int, arrays: Mapping[str, set[str]]) -> dict:
    """The manifest entry of the finished file `path`; `arrays`: {sequence id: its array names}."""
    common = set.intersection(*arrays.values()) if arrays else set()
    return manifest.shard_entry(file=path.name, index=index, ids=sorted(arrays),
                                arrays=sorted(common), sha256=manifest.sha256_file(path),
                                size=path.stat().st_size)


def write_sequence(group, arrays: Mapping[str, np.ndarray], record: dict,
                   gaps: tuple[int, ...] | None = DEFAULT_GAPS) -> None:
    """Write one sequence into an open h5py group (arrays in sorted order: reproducible bytes);
    every flow array gets the attribute `gaps` (None: none, as in a schema-1 shard)."""
    clipped = {}
    for name in sorted(arrays):
        stored, n_clipped = encode(name, arrays[name])
        write_array(group, name, stored)
        mark_gaps(group, name, gaps)
        if n_clipped:
            clipped[name] = n_clipped
    record = dict(record, clipped=clipped) if clipped else record
    set_text(group.attrs, "record", json.dumps(record, sort_keys=True))


def write_array(group, name: str, stored: np.ndarray) -> None:
    """One already-encoded array, with the schema's chunking, compression and checksums."""
    dataset = group.create_dataset(name, data=stored, track_times=False,
                                   **_storage(name, stored.shape))
    # Chunks get their file offsets when the chunk cache is flushed, which h5py otherwise does
    # when the dataset object is released; a Dask worker thread may release it late, giving the
    # same arrays at other offsets (other shard bytes). Flushing here fixes the layout.
    dataset.flush()


def mark_gaps(group, name: str, gaps: tuple[int, ...] | None) -> None:
    """Record on a flow array the gaps it holds (nothing for other arrays or `gaps` None)."""
    if gaps is not None and is_flow(name):
        group[name].attrs.create(GAPS_ATTR, encode_attr(gaps))


class ShardWriter:
    """Write one shard under a temporary name; `close()` renames it into place when complete.

    Usage: `with ShardWriter(path, shard_index=j, settings=s, generator_version=v) as w:
    w.add(seq_id, arrays, record)`, then `manifest.put_entry(root, w.entry)`. Leaving the block by
    an exception removes the temporary file, so `path` exists only when every sequence was
    written; `entry` (the shard's manifest entry) is set once it does. `ground_truth=False`
    writes an imported dataset's sequences (no flow_gt, `schema.check_sequence`). `gaps`: the
    dataset's flow gaps, recorded in the file and on every flow array; each sequence's flows must
    hold them (`add(..., gaps=seq.gaps)` also refuses a sequence rendered at other gaps).
    """

    def __init__(self, path, *, shard_index: int, settings: dict, generator_version: str,
                 ground_truth: bool = True, gaps: tuple[int, ...] = DEFAULT_GAPS):
        import h5py  # heavy: only when a shard is written

        self.gaps = check_gaps(gaps)
        self.path = Path(path)
        self.tmp = tmp_name(self.path)
        self.index = shard_index
        self.ground_truth = ground_truth
        self.ids: list[str] = []
        self._arrays: dict[str, set[str]] = {}
        self._closed = False
        self._entry: dict | None = None
        self._file = _in_memory(h5py, self.tmp)
        attrs = self._file.attrs
        set_text(attrs, "format", SHARD_FORMAT)
        attrs["schema_version"] = SCHEMA_VERSION
        set_text(attrs, "generator_version", generator_version)
        attrs["shard_index"] = shard_index
        set_text(attrs, "settings", json.dumps(settings, sort_keys=True))
        attrs.create(GAPS_ATTR, encode_attr(self.gaps))

    def add(self, seq_id: str, arrays: Mapping[str, np.ndarray], record: dict,
            gaps: tuple[int, ...] | None = None) -> None:
        """Write one sequence; ValueError if its arrays break the schema or `gaps` (the gaps it
        was made at, if the caller knows them) are not the shard's."""
        if gaps is not None and tuple(gaps) != self.gaps:
            raise ValueError(f"sequence {seq_id}: flow at gaps {list(gaps)}, the shard holds "
                             f"gaps {list(self.gaps)}")
        check_sequence(arrays, ground_truth=self.ground_truth, gaps=self.gaps)
        if "order" in arrays:  # a constant (K,) order is written per frame like any other
            arrays = dict(arrays, order=frame_order(arrays["order"], arrays["amodal"].shape[1]))
        write_sequence(self._file.create_group(seq_id), arrays, dict(record, id=seq_id),
                       self.gaps)
        self.ids.append(seq_id)
        self._arrays[seq_id] = set(arrays)

    def close(self) -> Path:
        try:
            _save(self._file, self.tmp, self.path)
        except BaseException:
            self.abort()
            raise
        self._closed = True
        return self.path

    @property
    def entry(self) -> dict | None:
        """The shard's manifest entry once the file is complete, else None (checksummed on first
        use: a caller that lists the shard otherwise pays nothing)."""
        if self._entry is None and self._closed:
            self._entry = _entry(self.path, self.index, self._arrays)
        return self._entry

    def abort(self) -> None:
        """Drop the in-memory file and any temporary file. Closing may fail as well: the error
        that led here is the one to report."""
        with contextlib.suppress(Exception):
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
    {"000017": {"flow_dis": flow}}. The shard must be listed in the manifest. It is rewritten to a
    temporary file (existing arrays copied as stored, without decoding) and renamed over the old
    one; then its manifest entry gets the new checksum, size and array list. Returns that entry.
    """
    root = Path(root)
    path = root / shard_file
    index = manifest.listed(root, shard_file)["index"]
    with Shard(path) as shard:
        unknown = sorted(set(new) - set(shard.ids))
        if unknown:
            raise KeyError(f"{path}: no sequences {unknown}")
        arrays = {i: set(shard.arrays(i)) | set(new.get(i, {})) for i in shard.ids}
        _rewrite(shard, path, new)
    fresh = _entry(path, index, arrays)
    manifest.put_entry(root, fresh)
    return fresh


def relist(root, shard_file: str) -> dict:
    """Re-list a shard already listed whose file changed outside this module (e.g. a flow pass
    killed between its rename and its manifest update): its contents are read from the file."""
    root = Path(root)
    path = root / shard_file
    index = manifest.listed(root, shard_file)["index"]
    with Shard(path) as shard:
        ids, arrays = shard.contents()
    fresh = manifest.shard_entry(file=shard_file, index=index, ids=ids, arrays=arrays,
                                 sha256=manifest.sha256_file(path), size=path.stat().st_size)
    manifest.put_entry(root, fresh)
    return fresh


def _rewrite(shard: Shard, path: Path, new: Mapping[str, Mapping[str, np.ndarray]]) -> None:
    """Write `shard` with the arrays `new` added over the file `path` (through its temporary
    name), built in memory as `ShardWriter` does; `path` is left as it was on any error."""
    import h5py  # heavy: only when a shard is written

    tmp = tmp_name(path)
    dst = _in_memory(h5py, tmp)
    try:
        _copy_shard(shard, dst, new)
        _save(dst, tmp, path)
    finally:
        with contextlib.suppress(Exception):
            dst.close()  # on an error before _save; a second close does nothing


def _copy_shard(shard: Shard, dst, new: Mapping[str, Mapping[str, np.ndarray]]) -> None:
    """Copy every attribute and sequence of `shard` into the open file `dst`, with `new` added."""
    src = shard._file
    for key in src.attrs:
        dst.attrs.create(key, src.attrs[key])
    for seq_id in shard.ids:
        group = dst.create_group(seq_id)
        group.attrs.create("record", src[seq_id].attrs["record"])
        _copy_sequence(src[seq_id], group, new.get(seq_id, {}), shard.gaps,
                       mark=shard.version >= 2)


def _copy_sequence(source, group, added: Mapping[str, np.ndarray], gaps: tuple[int, ...], *,
                   mark: bool) -> None:
    """The arrays of one sequence's group `source`, as stored, and `added` (decoded values) over
    them, into `group`; in sorted order, as `write_sequence` writes them. An added flow must hold
    the shard's `gaps` and is marked with them if `mark` (a schema-1 shard records none and keeps
    its version)."""
    held = sorted(source.keys())
    for name in sorted(set(held) | set(added)):
        if name in added:
            _check_added(name, added[name], source, held, gaps)
            write_array(group, name, encode(name, added[name])[0])
            mark_gaps(group, name, gaps if mark else None)
        else:
            _copy(source[name], group, name)


def _check_added(name: str, array: np.ndarray, source, held: list[str],
                 gaps: tuple[int, ...]) -> None:
    """ValueError if an added flow does not hold the shard's gaps or differs in shape from the
    flow already there."""
    if not is_flow(name):
        return
    if array.ndim != 5 or array.shape[1] != 2 * len(gaps):
        raise ValueError(f"{name}: shape {array.shape}: the shard holds flow at gaps "
                         f"{list(gaps)} ({2 * len(gaps)} gap maps on axis 1)")
    ref = _flow_shape(source, held)
    if ref is not None and array.shape != ref[1]:
        raise ValueError(f"{name}: shape {array.shape} != {ref[0]} {ref[1]}")


def _flow_shape(group, names: list[str]) -> tuple[str, tuple] | None:
    """(name, shape) of the flow a new flow must match: flow_gt, or in an imported dataset (which
    has none) its first estimated flow; None if the sequence holds no flow yet."""
    flows = sorted((n != "flow_gt", n) for n in names if is_flow(n))
    return (flows[0][1], group[flows[0][1]].shape) if flows else None


def _copy(source, group, name: str) -> None:
    """Copy an array as stored; one without chunk checksums (an older shard) is written afresh
    with them, same values, so a rewritten shard is checked everywhere."""
    if source.fletcher32 or source.size == 0:
        source.parent.copy(source, group, name=name)  # attributes (`gaps`) included
    else:
        write_array(group, name, source[()])
        for key in source.attrs:
            group[name].attrs.create(key, source.attrs[key])
