"""The one reader of layersynth shards: `open_dataset(folder)` -> Dataset, and Shard for one file.

Every file is version-checked on opening (`schema.check_version`); arrays come back decoded
(flows as float32 pixels, `schema.decode`). Chunks hold one frame, so reading a clip window reads
only its own frames.

Damage is found before anything is decoded: every chunk carries a Fletcher-32 checksum, which
HDF5 checks on the compressed bytes before the decompressor sees them, and the file's metadata
(superblock, object headers with their attributes, chunk indexes) carries HDF5's own checksums
(docs/shards.md, "Checksums"). Whatever h5py raises on a damaged or truncated file (OSError,
KeyError, RuntimeError, ValueError, TypeError) becomes one ShardError naming the file, and the
sequence and array when known: `shards/shard-00003.h5: sequence 000049: flow_gt: damaged chunk
(checksum mismatch); run layersynth validate`. Shards written before chunk checksums existed still
read, with one warning per process: for them the manifest's sha256 (`validate`) is the only check.

An imported dataset (`layersynth import`) has no `flow_gt`: asking it for one (`ds.read(id,
["flow_gt"])`, or `ds[id]["flow_gt"]`) raises one ShardError that says so and names the source:
`DIR: no ground-truth flow: this dataset was imported from SRC; use flow 'raft'`.

Depth order: `order` is (T, K), ranks per frame; a version-1 (K,) one is repeated over T.

Flow gaps (schema version 2): `ds.gaps` (and `Shard.gaps`) are the frame gaps every flow holds,
(T, 2 len(gaps), H, W, 2); a version-1 dataset reads as gaps (1,). `ds.flow_for(flow, +2)` picks
one gap's (T, H, W, 2) flow, `ds.read(id, names, gaps=(1,))` reads flows of some gaps only. The
gaps recorded in a file are checked against the manifest's and against each flow array's own
`gaps` attribute and gap axis: a damaged or inconsistent record is a ShardError naming the file.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from layersynth.report import warn
from layersynth.store import gaps as flow_gaps
from layersynth.store import manifest
from layersynth.store.schema import (
    ESTIMATED_FLOW_PREFIX,
    GROUND_TRUTH_FLOW,
    ShardError,
    check_version,
    contents,
    decode,
    field_of,
    frame_order,
    get_text,
    imported_from,
    is_flow,
    is_ranks,
    no_ground_truth,
    stored_gaps,
)

# What h5py raises for a file it cannot read: HDF5 errors arrive as OSError (I/O, failed filters)
# or KeyError (objects whose header cannot be read), RuntimeError, ValueError or TypeError
# (metadata decoded into nonsense, e.g. a datatype numpy has no equivalent for).
H5_ERRORS = (OSError, KeyError, RuntimeError, ValueError, TypeError)
ADVICE = "run layersynth validate"
_warned_unprotected = False  # the old-shard warning is given once per process


def _open_h5(path: Path):
    import h5py  # heavy: only when a shard is opened (`import layersynth` stays light)
    import hdf5plugin  # noqa: F401  (registers the Blosc filter for reading; loads h5py too)

    try:
        return h5py.File(path, "r")
    except FileNotFoundError as err:
        raise ShardError(f"{path}: shard file is missing") from err
    except H5_ERRORS as err:
        raise ShardError(f"{path}: not a readable HDF5 file (truncated or damaged: "
                         f"{_reason(err)}); {ADVICE}") from err


def _reason(err: BaseException) -> str:
    """h5py's message without its noise, on one line."""
    return " ".join(str(err).strip("'\"").split()) or type(err).__name__


def _damage(err: BaseException, checked: bool) -> str:
    """What a failed read of one array means: `checked` when its chunks carry checksums, so a
    filter that fails is the checksum finding damage before decompression."""
    text = str(err)
    if checked and "filter returned failure" in text:
        return "damaged chunk (checksum mismatch)"
    if "checksum" in text:
        return "damaged metadata (checksum mismatch)"
    return f"unreadable ({_reason(err)})"


def _warn_unprotected(path: Path, name: str) -> None:
    global _warned_unprotected
    if not _warned_unprotected:
        _warned_unprotected = True
        warn(f"{path}: {name} (and perhaps other arrays and shards) has no chunk checksums "
             "(written by an older layersynth): damage in it may go unnoticed or crash the "
             "decompressor; `layersynth validate` (sha256 against manifest.json) is its only "
             "protection")


def _window(name: str, frames: slice | None) -> tuple:
    """HDF5 selection of `frames` along the T axis of an array (everything if None or no T)."""
    axes = field_of(name).axes.split(",")
    if frames is None or "T" not in axes:
        return ()
    return (slice(None),) * axes.index("T") + (frames,)


class Shard:
    """Read access to one shard file (opened and version-checked on construction). Every failure
    to read it is a ShardError naming the file (and the sequence, array or attribute)."""

    def __init__(self, path):
        self.path = Path(path)
        self._file = _open_h5(self.path)
        try:
            self.version = check_version(self.path, self._file.attrs)
            self.gaps = stored_gaps(self.path, self._file.attrs, self.version)
            self.settings = self._json_attr(self._file, "settings")
            self.ids = sorted(self._file.keys())
        except ShardError:
            self._file.close()
            raise
        except H5_ERRORS as err:
            self._file.close()
            raise ShardError(f"{self.path}: damaged shard header ({_reason(err)}); {ADVICE}") \
                from err

    def arrays(self, seq_id: str) -> list[str]:
        return self._names(seq_id, self._group(seq_id))

    def contents(self) -> tuple[list[str], list[str]]:
        """(sequence ids, arrays every sequence holds), both sorted: what the manifest lists."""
        try:
            return contents(self._file)
        except H5_ERRORS as err:
            raise ShardError(f"{self.path}: damaged shard ({_damage(err, False)}); {ADVICE}") \
                from err

    def read(self, seq_id: str, names=None, frames: slice | None = None,
             gaps: tuple[int, ...] | None = None) -> dict[str, np.ndarray]:
        """Decoded arrays of one sequence (all, or only `names`; only `frames` along T if given:
        chunks hold one frame, so a clip window reads only its own frames; flows only at `gaps`,
        in that order, if given). KeyError for an array the sequence does not have; ShardError
        for one that is damaged; ValueError naming the file for a gap it does not hold."""
        group = self._group(seq_id)
        present = self._names(seq_id, group)
        names = present if names is None else list(names)
        missing = [n for n in names if n not in present]
        if missing:
            raise KeyError(f"{self.path}: sequence {seq_id} has no array {missing[0]!r}")
        for gap in gaps or ():  # a gap not stored is refused before anything is read
            try:
                flow_gaps.gap_index(self.gaps, gap)
            except ValueError as err:
                raise ValueError(f"{self.path}: {err}") from None
        out = {n: decode(n, self._stored(seq_id, group, n, _window(n, frames))) for n in names}
        if gaps is None:
            return out
        return {n: flow_gaps.select(a, self.gaps, tuple(gaps)) if is_flow(n) else a
                for n, a in out.items()}

    def read_stored(self, seq_id: str) -> dict[str, np.ndarray]:
        """Arrays exactly as stored (flows still int16): what `validate --deep` compares."""
        group = self._group(seq_id)
        return {n: self._stored(seq_id, group, n, ()) for n in self._names(seq_id, group)}

    def record(self, seq_id: str) -> dict:
        return self._json_attr(self._group(seq_id), "record", f"sequence {seq_id}: ")

    def has_checksums(self) -> bool:
        """Whether every array of the shard carries chunk checksums, so that reading a damaged
        one raises ShardError rather than handing damaged bytes to the decompressor."""
        for seq_id in self.ids:
            group = self._group(seq_id)
            for name in self._names(seq_id, group):
                try:
                    dataset = group[name]
                    if not (dataset.fletcher32 or dataset.size == 0):
                        return False
                except H5_ERRORS as err:
                    raise ShardError(f"{self.path}: sequence {seq_id}: {name}: "
                                     f"{_damage(err, False)}; {ADVICE}") from err
        return True

    def verify(self) -> None:
        """Read every array and record of the shard (each chunk's checksum is checked on the
        way); ShardError at the first damage."""
        for seq_id in self.ids:
            self.read_stored(seq_id)
            self.record(seq_id)

    def _group(self, seq_id: str):
        if seq_id not in self.ids:
            raise KeyError(f"{self.path}: no sequence {seq_id!r}")
        try:
            return self._file[seq_id]
        except H5_ERRORS as err:
            raise ShardError(f"{self.path}: sequence {seq_id}: {_damage(err, False)}; "
                             f"{ADVICE}") from err

    def _names(self, seq_id: str, group) -> list[str]:
        try:
            return sorted(group.keys())
        except H5_ERRORS as err:
            raise ShardError(f"{self.path}: sequence {seq_id}: {_damage(err, False)}; "
                             f"{ADVICE}") from err

    def _stored(self, seq_id: str, group, name: str, selection: tuple) -> np.ndarray:
        """One array as stored, read through its checksums (warned about once if it has none)."""
        checked = False
        try:
            dataset = group[name]
            checked = dataset.fletcher32 or dataset.size == 0
            if not checked:
                _warn_unprotected(self.path, name)
            if name == "order":
                return self._order(seq_id, group, dataset, selection)
            stored = dataset[selection]
        except H5_ERRORS as err:
            raise ShardError(f"{self.path}: sequence {seq_id}: {name}: "
                             f"{_damage(err, checked)}; {ADVICE}") from err
        if is_flow(name):
            self._check_gaps(seq_id, name, dataset)
        return stored

    def _order(self, seq_id: str, group, dataset, selection: tuple) -> np.ndarray:
        """The (T, K) order (only `selection`'s frames): a version-1 (K,) one repeated over the
        sequence's T frames. ShardError unless every frame holds the ranks 0..K-1, or for a
        (K,) order in a shard of a version that stores (T, K)."""
        stored = dataset[()]
        where = f"{self.path}: sequence {seq_id}: order: "
        if stored.ndim == 1 and self.version >= 2:
            raise ShardError(f"{where}shape {stored.shape}: schema version {self.version} stores "
                             f"one order per frame (T, K); {ADVICE}")
        if not is_ranks(stored):
            raise ShardError(f"{where}damaged chunk (holds {stored.tolist()}, not the ranks "
                             f"0..K-1); {ADVICE}")
        return frame_order(stored, group["amodal"].shape[1])[selection]

    def _check_gaps(self, seq_id: str, name: str, dataset) -> None:
        """ShardError unless a flow array records the file's gaps (version 2) and has their
        2 len(gaps) maps on its gap axis."""
        where = f"sequence {seq_id}: {name}: "
        try:
            own = stored_gaps(self.path, dataset.attrs, self.version, where)
            shape = dataset.shape
        except H5_ERRORS as err:
            raise ShardError(f"{self.path}: {where}{_damage(err, False)}; {ADVICE}") from err
        if own != self.gaps:
            raise ShardError(f"{self.path}: {where}attribute gaps {list(own)} differs from the "
                             f"file's {list(self.gaps)} (damaged); {ADVICE}")
        if len(shape) != 5 or shape[1] != 2 * len(self.gaps):
            raise ShardError(f"{self.path}: {where}shape {shape} does not hold the "
                             f"{2 * len(self.gaps)} gap maps of gaps {list(self.gaps)}; {ADVICE}")

    def _json_attr(self, obj, key: str, where: str = "") -> dict:
        """A JSON-object text attribute (`settings` of the file, `record` of a sequence)."""
        try:
            value = json.loads(get_text(obj.attrs, key) or "null")
        except H5_ERRORS as err:
            raise ShardError(f"{self.path}: {where}attribute {key}: damaged ({_reason(err)}); "
                             f"{ADVICE}") from err
        if not isinstance(value, dict):
            problem = "missing" if value is None else "not a JSON object"
            raise ShardError(f"{self.path}: {where}attribute {key}: {problem}; {ADVICE}")
        return value

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Shard:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SequenceArrays(dict):
    """The arrays of one sequence (`Dataset[id]`): a dict whose missing `flow_gt` in an imported
    dataset raises the ShardError that says why, instead of a bare KeyError."""

    def __init__(self, arrays: dict, missing_gt: str | None):
        super().__init__(arrays)
        self._missing_gt = missing_gt

    def __missing__(self, name: str):
        if name == GROUND_TRUTH_FLOW and self._missing_gt:
            raise ShardError(self._missing_gt)
        raise KeyError(name)


class Dataset:
    """Reader of a generated folder: `.ids`, `len()`, `ds[id]` -> dict of decoded numpy arrays.

    `ds[id]` returns every array of the sequence (rgb, amodal, modal, occluder, flow_gt, order and
    any `flow_<method>`); `ds.read(id, names, frames=slice(a, b))` reads only some arrays and/or
    frames (cheaper for a trainer);
    `ds.record(id)` returns its seed, scene parameters and statistics. Open files are cached per
    process (safe for DataLoader workers that fork), at most `max_open` at a time.
    `ds.imported_from` is the source folder of an imported dataset (None if generated), which has
    no flow_gt (see the module docstring). `ds.gaps`: the frame gaps of every flow (manifest).
    """

    def __init__(self, root, *, max_open: int = 8):
        self.root = Path(root)
        self.manifest = manifest.load(self.root)
        self.settings: dict = self.manifest["settings"]
        self.imported_from = imported_from(self.settings)
        self.gaps: tuple[int, ...] = manifest.gaps_of(self.manifest)
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
        return SequenceArrays(self.read(seq_id), self._missing_gt())

    def read(self, seq_id: str, names=None, frames: slice | None = None,
             gaps: tuple[int, ...] | None = None) -> dict[str, np.ndarray]:
        """See `Shard.read`: some arrays, a window of frames, flows at some gaps only."""
        if names is not None and GROUND_TRUTH_FLOW in names and self._missing_gt():
            raise ShardError(self._missing_gt())
        return self.shard_of(seq_id).read(seq_id, names, frames, gaps)

    def gap_index(self, gap: int) -> int:
        """Index on the gap axis of a flow of this dataset of the signed `gap` (+2: t -> t+2)."""
        return flow_gaps.gap_index(self.gaps, gap)

    def flow_for(self, flow: np.ndarray, gap: int) -> np.ndarray:
        """(T, H, W, 2) flow at the signed `gap` of a (T, 2 len(gaps), H, W, 2) flow read here."""
        return flow_gaps.flow_for(flow, self.gaps, gap)

    def _missing_gt(self) -> str | None:
        """The message for a flow_gt asked of an imported dataset (None: a generated one)."""
        return no_ground_truth(self.root, self.imported_from) if self.imported_from else None

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
            self._open[name] = self._opened(name)
            if len(self._open) > self._max_open:
                self._open.popitem(last=False)[1].close()
        self._open.move_to_end(name)
        return self._open[name]

    def _opened(self, name: str) -> Shard:
        """Shard `name`, refused (ShardError naming it) if its gaps are not the manifest's."""
        shard = Shard(self.root / name)
        if shard.gaps != self.gaps:
            shard.close()
            raise ShardError(f"{shard.path}: holds flow at gaps {list(shard.gaps)}, "
                             f"{manifest.MANIFEST} says {list(self.gaps)}; {ADVICE}")
        return shard

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
