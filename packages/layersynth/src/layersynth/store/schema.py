"""The shard schema (version 2): the arrays of a sequence, how each is stored and decoded, and
the checks every shard file must pass. One writer (`layersynth.store.writer`) and one reader
(`layersynth.store.reader`) use it.

The schema is written once here and once in docs/shards.md; both must change together (a test
checks that every field below is documented there).

Layout of `shard-JJJJJ.h5` (JJJJJ = shard index):

    /                      attrs: format = "layersynth-shard", schema_version, generator_version,
                                  shard_index, settings (JSON text of the dataset's settings),
                                  gaps (int64 array, version 2: the frame gaps of every flow)
    /<seq id>/             one group per sequence, id a zero-padded string ("000017");
                           attr `record`: JSON text {"id", "seed": {"entropy", "spawn_key"},
                           "scene": SceneParams.to_dict(), "generator_version", "stats": {...}}
    /<seq id>/<field>      the arrays of FIELDS (and optional `flow_<method>` arrays); every flow
                           array carries the attribute `gaps` too (version 2), equal to the file's

Flow is stored as int16 fixed point, 1/64 px per unit (`FLOW_SCALE`): the quantisation error is at
most 1/128 px (< 0.01 px) for |flow| up to 511.98 px, and it compresses 5x better than float32
(measured, docs/shards.md). `decode` turns it back into float32 pixels; `encode` is the inverse.
Every array is chunked one frame (or one layer-frame) per chunk and compressed with Blosc zstd
level 1 + bit shuffle (hdf5plugin), so a reader must `import hdf5plugin`.

Checksums inside the file, so damage is found before it is decoded: every chunk carries a
Fletcher-32 checksum of its compressed bytes (HDF5's `fletcher32` filter, after compression in the
pipeline, so it is checked first on read), `order` included (one chunk, uncompressed); the file is
written in HDF5's 1.10 format (`FILE_FORMAT`), whose superblock, object headers (attributes
included) and chunk indexes carry checksums too. Neither changes a stored value, and any HDF5 1.10
or newer reads both old and new files, so they did not change the schema version: shards written
before (chunks without checksums, recognised by their filter list) still read, with a warning.

Imported datasets (`layersynth import`, settings `{"kind": "imported", "source": {...}}`) hold no
ground-truth flow: their sequences have every array of FIELDS but `flow_gt`, and at least one
estimated flow (`flow_raft`, the source's own flow, provenance "imported" in the manifest's
`estimated_flow`). A reader of schema version 1 reads them unchanged (it never required
`flow_gt`); `imported_from` tells a consumer why the array is absent (no version change).

Version 2, per-frame depth order (issue 16, `generate --order-changes P`): `order` is (T, K),
the ranks of the amodal channels at each frame (0 = front-most; channel k is one object over the
clip, the k-th nearest at frame 0), written so even when it is the same at every frame. A
version-1 shard stored one order per clip, (K,): the reader returns it repeated over T
(`frame_order`), so every consumer sees (T, K).

Version 2 (issue 14, `generate --gaps 1,2`): a flow holds the +- flows of a list of frame gaps,
(T, G, H, W, 2) with G = 2 len(gaps), index 2i = +gaps[i] (t -> t + gaps[i]) and 2i + 1 =
-gaps[i]; the gaps are recorded in the file (attribute `gaps`, and the same on every flow array)
and in the manifest. With gaps (1,) the arrays are exactly those of version 1. A version-1 shard
(no `gaps` attribute) reads as gaps (1,). Pick a gap's flow with `flow_for` / `gap_index`, never
by hard-coded indices.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from layersynth.errors import UsageError
from layersynth.render.sequence import check_arrays
from layersynth.store.gaps import DEFAULT_GAPS, decode_attr

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1: no gaps recorded, read as DEFAULT_GAPS
GAPS_ATTR = "gaps"  # of the file and of every flow array (version 2)
SHARD_FORMAT = "layersynth-shard"
FLOW_SCALE = 1.0 / 64.0  # px per stored unit: error <= 1/128 px
FLOW_LIMIT = 32767 * FLOW_SCALE  # largest |flow| (px) that fits; beyond is clipped and counted
ESTIMATED_FLOW_PREFIX = "flow_"
# HDF5 file-format bounds (h5py `libver`) of written shards: the 1.10 format checksums all
# metadata (the default, "earliest", checksums none); pinned above too, so a newer HDF5 writes
# the same bytes and any HDF5 >= 1.10 reads them.
FILE_FORMAT = ("v110", "v110")


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
        "T,G,H,W,2", "int16", "float32", f"px (stored x {FLOW_SCALE:g})",
        "exact flow at the dataset's gaps, G = 2 len(gaps): index 2i = +gaps[i] (t -> t+g), 2i + 1"
        " = -gaps[i]; with gaps (1,) index 0 = +1, 1 = -1; last axis (u, v), u along W;"
        " absent from imported datasets",
    ),
    "order": Field(
        "T,K", "int16", "int16", "rank",
        "depth rank of each amodal channel at each frame, 0 = front; channel k is one object over"
        " the clip (the k-th nearest at frame 0); version 1 stored (K,), read broadcast over T",
    ),
}
ESTIMATED_FLOW = Field(
    "T,G,H,W,2", "int16", "float32", f"px (stored x {FLOW_SCALE:g})",
    "estimated flow (`flow_dis`, `flow_raft`, ...): optional, same conventions as flow_gt",
)


GROUND_TRUTH_FLOW = "flow_gt"
IMPORTED = "imported"  # settings["kind"] of a dataset read from another layout


class ShardError(UsageError):
    """A shard or manifest that is missing, corrupt, truncated or of an unknown schema version."""


def imported_from(settings: Mapping) -> str | None:
    """The source folder of an imported dataset (its settings), None for a generated one."""
    if settings.get("kind") != IMPORTED:
        return None
    source = settings.get("source")
    return str(source.get("root", "?")) if isinstance(source, Mapping) else "?"


def no_ground_truth(root, source: str) -> str:
    """What a consumer asking an imported dataset for ground-truth flow is told."""
    return (f"{root}: no ground-truth flow: this dataset was imported from {source}; "
            "use flow 'raft'")


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


def check_sequence(arrays: Mapping[str, np.ndarray], *, ground_truth: bool = True,
                   gaps: tuple[int, ...] = DEFAULT_GAPS) -> None:
    """Raise ValueError if the arrays break the conventions of sequence.py or the schema; flows
    hold the +- flows of `gaps` (G = 2 len(gaps) on their gap axis).

    `ground_truth=False` (an imported dataset): `flow_gt` must be absent and an estimated flow
    present, whose shape and dtype are checked where flow_gt's would be."""
    required = [n for n in FIELDS if ground_truth or n != GROUND_TRUTH_FLOW]
    missing = [n for n in required if n not in arrays]
    if missing:
        raise ValueError(f"missing arrays: {', '.join(missing)}")
    flows = sorted(n for n in arrays if is_flow(n))
    ref = GROUND_TRUTH_FLOW
    if not ground_truth:
        if GROUND_TRUTH_FLOW in arrays or not flows:
            raise ValueError("an imported sequence holds estimated flow and no flow_gt; "
                             f"got flows {flows or 'none'}")
        ref = "flow_raft" if "flow_raft" in flows else flows[0]
    arrays = dict(arrays, order=frame_order(arrays["order"], arrays["amodal"].shape[1]))
    try:
        check_arrays(dict(arrays, **{GROUND_TRUTH_FLOW: arrays[ref]}), gaps)
    except ValueError as err:  # name the array checked in flow_gt's place
        raise ValueError(str(err).replace(f"{GROUND_TRUTH_FLOW}:", f"{ref}:", 1)) from None
    for name, arr in arrays.items():
        field_of(name)
        if is_flow(name) and arr.shape != arrays[ref].shape:
            raise ValueError(f"{name}: shape {arr.shape} differs from {ref} {arrays[ref].shape}")
    if not is_ranks(arrays["order"]):
        raise ValueError(f"order: {_first_bad(arrays['order']).tolist()} is not a ranking 0..K-1")


def frame_order(order: np.ndarray, frames: int) -> np.ndarray:
    """The per-frame order (T, K) of `order`: a constant (K,) one (schema version 1, or a caller
    with one order per clip) repeated over the T `frames`; a (T, K) one (or any other shape, for
    the checks to name) as it is."""
    order = np.asarray(order)
    return np.tile(order, (frames, 1)) if order.ndim == 1 else order


def is_ranks(order: np.ndarray) -> bool:
    """Whether every row of `order` (K,) or (T, K) holds each depth rank 0..K-1 once. The reader
    checks it too: `order` is one chunk of a few bytes a frame, and a flip that inverts all of
    them and their checksum together is the one change Fletcher-32 cannot see (it sums in ones'
    complement); it makes the ranks negative."""
    order = np.asarray(order)
    return order.ndim in (1, 2) and np.array_equal(
        np.sort(order, axis=-1), np.broadcast_to(np.arange(order.shape[-1]), order.shape))


def _first_bad(order: np.ndarray) -> np.ndarray:
    """The first row of a (T, K) order that is not a ranking (the order itself if (K,))."""
    if order.ndim != 2:
        return order
    return next((row for row in order if not is_ranks(row)), order[0])


def contents(shard_file) -> tuple[list[str], list[str]]:
    """(sequence ids, arrays every sequence holds), both sorted, of an open shard file (h5py
    File): what the manifest lists of a shard."""
    ids = sorted(shard_file.keys())
    names = [set(shard_file[i].keys()) for i in ids]
    return ids, sorted(set.intersection(*names)) if names else []


def set_text(attrs, key: str, text: str) -> None:
    """A fixed-length UTF-8 attribute: variable-length strings live in HDF5's global heap, whose
    unused bytes are uninitialised memory, which would make identical content differ in bytes."""
    attrs.create(key, np.bytes_(text.encode("utf-8")))


def get_text(attrs, key: str, default: str | None = None) -> str | None:
    if key not in attrs:
        return default
    value = attrs[key]
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def check_version(path, attrs) -> int:
    """The schema version of a shard (one of READABLE_VERSIONS); ShardError for a file that is
    not ours or of a version this reader does not know."""
    fmt = get_text(attrs, "format")
    if fmt != SHARD_FORMAT:
        raise ShardError(f"{path}: not a layersynth shard (format attribute {fmt!r})")
    version = int(attrs.get("schema_version", -1))
    if version not in READABLE_VERSIONS:
        newer = "newer than" if version > SCHEMA_VERSION else "different from"
        readable = " and ".join(map(str, READABLE_VERSIONS))
        raise ShardError(
            f"{path}: shard schema version {version} is {newer} the versions this layersynth "
            f"reads ({readable}); use a matching layersynth or regenerate"
        )
    return version


def stored_gaps(path, attrs, version: int, where: str = "") -> tuple[int, ...]:
    """The gaps recorded in `attrs` (of a shard file, or of one of its flow arrays: `where`
    names it); a version-1 file records none and holds DEFAULT_GAPS. ShardError naming the file
    for a version-2 attribute that is missing or not a list of distinct positive integers."""
    if version < 2:
        return DEFAULT_GAPS
    if GAPS_ATTR not in attrs:
        raise ShardError(f"{path}: {where}attribute {GAPS_ATTR}: missing (schema version "
                         f"{version} records the flow gaps); run layersynth validate")
    try:
        return decode_attr(attrs[GAPS_ATTR])
    except (ValueError, TypeError, OSError, KeyError) as err:
        raise ShardError(f"{path}: {where}attribute {GAPS_ATTR}: damaged ({err}); "
                         "run layersynth validate") from err
