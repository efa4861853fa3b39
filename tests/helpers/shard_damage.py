"""Damage done to shard files the way a disk or a copy does it: bytes flipped at offsets found in
the file's own layout (never guessed), a truncated file, an attribute's bytes overwritten on disk.

On the test path through pytest's `pythonpath` setting (pyproject.toml):
`from shard_damage import flip, chunk_spans`.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

FLIP = 16  # bytes inverted by one flip


def chunk_spans(path: Path, seq_id: str, array: str) -> list[tuple[int, int]]:
    """(file offset, stored size) of every chunk of one array, from HDF5's chunk index."""
    with h5py.File(path, "r") as f:
        dataset = f[seq_id][array]
        infos = [dataset.id.get_chunk_info(i) for i in range(dataset.id.get_num_chunks())]
    return [(info.byte_offset, info.size) for info in infos]


def header_offset(path: Path, name: str = "/") -> int:
    """File offset of the object header of `name` (a group or dataset; "/" the root group)."""
    with h5py.File(path, "r") as f:
        return h5py.h5o.get_info(f[name].id).addr


def flip(path: Path, offset: int, n: int = FLIP) -> None:
    """Invert n bytes of `path` from `offset` on (each byte XOR 0xFF: every bit changes)."""
    with open(path, "r+b") as fh:
        fh.seek(offset)
        old = fh.read(n)
        fh.seek(offset)
        fh.write(bytes(b ^ 0xFF for b in old))


def flip_in_chunk(path: Path, seq_id: str, array: str, chunk: int = 0, at: float = 0.5) -> int:
    """Flip FLIP bytes inside one stored chunk, at fraction `at` of it; returns the offset."""
    offset, size = chunk_spans(path, seq_id, array)[chunk]
    offset += int((size - FLIP) * at)
    flip(path, offset)
    return offset


def truncate(path: Path, fraction: float = 0.5) -> None:
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * fraction)])


def junk_in_record(path: Path, seq_id: str) -> None:
    """Overwrite, on disk, the middle of the bytes of sequence `seq_id`'s `record` attribute (its
    scene JSON) with junk of the same length, as damage would: HDF5 is not told."""
    with h5py.File(path, "r") as f:
        text = bytes(f[seq_id].attrs["record"])
    data = bytearray(path.read_bytes())
    at = data.find(text)
    assert at > 0 and json.loads(text)["id"] == seq_id and len(text) > 48
    junk = (b"\xfe\xff junk " * 4)[:24]  # not UTF-8, not JSON
    middle = at + len(text) // 2
    data[middle : middle + len(junk)] = junk
    path.write_bytes(bytes(data))


def without_checksums(path: Path) -> None:
    """Rewrite a shard as layersynth wrote shards before chunk checksums: HDF5's earliest file
    format (no metadata checksums), no Fletcher-32 filter, `order` contiguous, schema version 1
    (no `gaps` attributes). Same values."""
    import hdf5plugin

    blosc = dict(hdf5plugin.Blosc(cname="zstd", clevel=1, shuffle=hdf5plugin.Blosc.BITSHUFFLE))
    old = path.with_name(path.name + ".old")
    with h5py.File(path, "r") as src, h5py.File(old, "w") as dst:
        for key in src.attrs:
            if key != "gaps":
                dst.attrs.create(key, src.attrs[key])
        dst.attrs["schema_version"] = 1
        for seq_id in src:
            group = dst.create_group(seq_id)
            group.attrs.create("record", src[seq_id].attrs["record"])
            for name in sorted(src[seq_id]):
                data = src[seq_id][name][()]
                extra = {} if data.ndim < 2 else dict(chunks=src[seq_id][name].chunks, **blosc)
                group.create_dataset(name, data=data, track_times=False, **extra)
    old.replace(path)


def same_arrays(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)
