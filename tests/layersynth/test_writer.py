"""ShardWriter and add_arrays: atomic files, reproducible bytes, and the entries they hand over."""

import errno
import os
import struct

import h5py
import numpy as np
import pytest
from fakeshards import fake_arrays, write_dataset
from layersynth import open_dataset
from layersynth.store import manifest, writer
from layersynth.store.reader import Shard
from layersynth.store.schema import (
    FILE_FORMAT,
    FLOW_SCALE,
    SCHEMA_VERSION,
    SHARD_FORMAT,
    ShardError,
    set_text,
)
from layersynth.store.writer import ShardWriter, add_arrays, relist
from shard_damage import without_checksums


def test_writing_identical_content_twice_gives_identical_bytes(tmp_path):
    write_dataset(tmp_path / "a", [2])
    write_dataset(tmp_path / "b", [2])
    a = manifest.load(tmp_path / "a")["shards"][0]["sha256"]
    assert a == manifest.load(tmp_path / "b")["shards"][0]["sha256"]


def test_shard_bytes_do_not_depend_on_when_python_releases_the_datasets(tmp_path, monkeypatch):
    """A Dask worker thread may release h5py objects late; the layout must not follow that."""
    write_dataset(tmp_path / "prompt", [3])
    held = []
    create = h5py.Group.create_dataset

    def create_and_hold(self, *args, **kwargs):
        held.append(create(self, *args, **kwargs))  # released only after the file closes
        return held[-1]

    monkeypatch.setattr(h5py.Group, "create_dataset", create_and_hold)
    write_dataset(tmp_path / "late", [3])
    held.clear()
    sums = [manifest.load(tmp_path / d)["shards"][0]["sha256"] for d in ("prompt", "late")]
    assert sums[0] == sums[1]


def test_a_failed_writer_leaves_no_shard_and_no_temporary_file(tmp_path):
    with pytest.raises(ValueError, match="expected"):
        with ShardWriter(tmp_path / "shard-00000.h5", shard_index=0, settings={},
                         generator_version="t") as w:
            bad = fake_arrays(np.random.default_rng(1))
            bad["amodal"] = bad["amodal"][:, :2]
            w.add("000000", bad, {})
    assert list(tmp_path.iterdir()) == []
    assert w.entry is None


def listing_of(path, index):
    """The manifest entry of a shard file as read back from the file itself."""
    with Shard(path) as shard:
        ids, arrays = shard.contents()
    return manifest.shard_entry(file=path.name, index=index, ids=ids, arrays=arrays,
                                sha256=manifest.sha256_file(path), size=path.stat().st_size)


def test_the_writers_entry_lists_what_the_finished_file_holds(tmp_path):
    rng = np.random.default_rng(2)
    path = tmp_path / "shard-00003.h5"
    with ShardWriter(path, shard_index=3, settings={}, generator_version="t") as w:
        w.add("000007", dict(fake_arrays(rng), flow_dis=np.zeros((3, 2, 8, 12, 2), np.float32)),
              {})
        w.add("000006", fake_arrays(rng), {})
    assert w.entry == listing_of(path, 3)
    assert w.entry["ids"] == ["000006", "000007"] and "flow_dis" not in w.entry["arrays"]
    assert w.entry["sha256"] == manifest.sha256_file(path)
    assert w.entry["bytes"] == path.stat().st_size


def test_add_arrays_adds_estimated_flow_and_updates_the_checksum(tmp_path):
    written = write_dataset(tmp_path, [2])
    before = manifest.load(tmp_path)["shards"][0]
    dis = {sid: {"flow_dis": a["flow_gt"] * 0.5} for sid, a in written.items()}
    after = add_arrays(tmp_path, "shard-00000.h5", dis)
    assert after["sha256"] != before["sha256"]
    assert after == manifest.load(tmp_path)["shards"][0]
    assert after["sha256"] == manifest.sha256_file(tmp_path / "shard-00000.h5")
    ds = open_dataset(tmp_path)
    assert ds.flow_methods == ["gt", "dis"]
    got = ds.read("000001", ["flow_dis", "rgb"])
    np.testing.assert_allclose(got["flow_dis"], written["000001"]["flow_gt"] * 0.5, atol=FLOW_SCALE)
    np.testing.assert_array_equal(got["rgb"], written["000001"]["rgb"])
    assert not list(tmp_path.glob("*.tmp-*"))


def test_add_arrays_lists_a_flow_only_once_every_sequence_has_it(tmp_path):
    written = write_dataset(tmp_path, [2])
    one = add_arrays(tmp_path, "shard-00000.h5",
                     {"000000": {"flow_dis": written["000000"]["flow_gt"]}})
    assert "flow_dis" not in one["arrays"]
    assert one == listing_of(tmp_path / "shard-00000.h5", 0)


def test_add_arrays_refuses_a_flow_of_the_wrong_shape_and_keeps_the_shard(tmp_path):
    write_dataset(tmp_path, [1])
    before = manifest.sha256_file(tmp_path / "shard-00000.h5")
    with pytest.raises(ValueError, match="flow_raft"):
        add_arrays(tmp_path, "shard-00000.h5",
                   {"000000": {"flow_raft": np.zeros((1, 2, 8, 12, 2), np.float32)}})
    assert manifest.sha256_file(tmp_path / "shard-00000.h5") == before
    assert not list(tmp_path.glob("*.tmp-*"))


def test_add_arrays_refuses_a_shard_the_manifest_does_not_list_before_touching_it(tmp_path):
    write_dataset(tmp_path, [1])
    path = tmp_path / "shard-00000.h5"
    before = manifest.sha256_file(path)
    manifest.save(tmp_path, dict(manifest.load(tmp_path), shards=[]))
    with pytest.raises(ShardError, match="does not list shard-00000.h5"):
        add_arrays(tmp_path, path.name, {})
    assert manifest.sha256_file(path) == before


def test_relist_gives_a_file_changed_outside_the_writer_its_new_checksum(tmp_path):
    write_dataset(tmp_path, [2])
    before = manifest.load(tmp_path)["shards"][0]
    with h5py.File(tmp_path / "shard-00000.h5", "r+") as f:
        f["000001/rgb"][0, 0, 0] = 1 + f["000001/rgb"][0, 0, 0]
    fresh = relist(tmp_path, "shard-00000.h5")
    assert fresh == manifest.load(tmp_path)["shards"][0]
    assert fresh["sha256"] == manifest.sha256_file(tmp_path / "shard-00000.h5") != before["sha256"]
    assert (fresh["ids"], fresh["arrays"], fresh["index"]) == (
        before["ids"], before["arrays"], before["index"])


def fletcher32(data: bytes) -> int:
    """HDF5's Fletcher-32 (H5_checksum_fletcher32): 16-bit big-endian words, sums folded in
    ones' complement every 360 words."""
    sum1 = sum2 = 0
    i, words = 0, len(data) // 2
    while words:
        n = min(words, 360)
        words -= n
        for _ in range(n):
            sum1 += (data[i] << 8) | data[i + 1]
            sum2 += sum1
            i += 2
        sum1, sum2 = (sum1 & 0xFFFF) + (sum1 >> 16), (sum2 & 0xFFFF) + (sum2 >> 16)
    if len(data) % 2:
        sum1 += data[i] << 8
        sum2 += sum1
    sum1, sum2 = (sum1 & 0xFFFF) + (sum1 >> 16), (sum2 & 0xFFFF) + (sum2 >> 16)
    sum1, sum2 = (sum1 & 0xFFFF) + (sum1 >> 16), (sum2 & 0xFFFF) + (sum2 >> 16)
    return (sum2 << 16) | sum1


def test_every_chunk_ends_in_the_fletcher_32_of_its_compressed_bytes(tmp_path):
    """The checksum is computed over what Blosc wrote, so HDF5 (which undoes the pipeline in
    reverse) checks it before Blosc decodes anything."""
    write_dataset(tmp_path, [1])
    frames = 0
    with h5py.File(tmp_path / "shard-00000.h5", "r") as f:
        for name, dataset in f["000000"].items():
            plist = dataset.id.get_create_plist()
            pipeline = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
            assert pipeline[-1] == h5py.h5z.FILTER_FLETCHER32, name
            assert pipeline == ([32001] if name != "order" else []) + pipeline[-1:], name
            for i in range(dataset.id.get_num_chunks()):
                mask, raw = dataset.id.read_direct_chunk(dataset.id.get_chunk_info(i).chunk_offset)
                # bit k of the mask: filter k skipped for this chunk, as Blosc (optional) is when
                # it cannot shrink a chunk; then the chunk is stored as is, checksum included
                assert mask & (1 << (len(pipeline) - 1)) == 0, (name, i)
                if mask == 0 and name != "order":
                    assert raw[0] == 2, name  # a Blosc frame (format version 2)
                    frames += 1
                assert raw[-4:] == struct.pack("<I", fletcher32(raw[:-4])), (name, i)
    assert frames >= 3


def test_shards_are_written_in_the_hdf5_format_that_checksums_its_metadata(tmp_path):
    write_dataset(tmp_path, [1])
    head = (tmp_path / "shard-00000.h5").read_bytes()[:9]
    assert head[:8] == b"\x89HDF\r\n\x1a\n" and head[8] == 3  # superblock version 3 (1.10)


def test_add_arrays_gives_an_older_shards_arrays_chunk_checksums_and_keeps_their_values(
    tmp_path
):
    written = write_dataset(tmp_path, [2])
    path = tmp_path / "shard-00000.h5"
    without_checksums(path)
    relist(tmp_path, path.name)
    dis = {sid: {"flow_dis": a["flow_gt"]} for sid, a in written.items()}
    add_arrays(tmp_path, path.name, dis)
    with Shard(path) as shard:
        assert shard.has_checksums()
        for sid, arrays in written.items():
            got = shard.read(sid)
            for name in ("rgb", "amodal", "modal", "occluder", "order"):
                np.testing.assert_array_equal(got[name], arrays[name])


def full_disk(*args):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as write() raises it: no file name


@pytest.mark.parametrize("error", [None, ValueError("a bad sequence")])
def test_a_shard_whose_bytes_cannot_be_written_leaves_no_temporary_file(tmp_path, monkeypatch,
                                                                        error):
    monkeypatch.setattr(writer.os, "fsync", full_disk)
    w = ShardWriter(tmp_path / "shard-00000.h5", shard_index=0, settings={}, generator_version="t")
    with pytest.raises(type(error) if error else OSError) as raised:  # the first error is raised
        with w:
            w.add("000000", fake_arrays(np.random.default_rng(1)), {})
            if error:
                raise error
    assert list(tmp_path.iterdir()) == [] and w.entry is None
    if not error:
        assert raised.value.errno == errno.ENOSPC
        assert raised.value.filename == str(tmp_path / "shard-00000.h5")


def test_a_shard_is_built_in_memory_and_reaches_the_disk_only_when_it_is_complete(tmp_path):
    """libhdf5 crashed on some failed writes (a full disk): it must never write to the disk."""
    with ShardWriter(tmp_path / "shard-00000.h5", shard_index=0, settings={},
                     generator_version="t") as w:
        w.add("000000", fake_arrays(np.random.default_rng(1)), {})
        assert list(tmp_path.iterdir()) == []
    assert [p.name for p in tmp_path.iterdir()] == ["shard-00000.h5"]


def test_add_arrays_on_a_full_disk_keeps_the_shard_and_its_entry(tmp_path, monkeypatch):
    written = write_dataset(tmp_path, [2])
    path = tmp_path / "shard-00000.h5"
    before, entry = manifest.sha256_file(path), manifest.load(tmp_path)["shards"][0]
    monkeypatch.setattr(writer.os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left on device") as raised:
        add_arrays(tmp_path, path.name, {i: {"flow_dis": a["flow_gt"]} for i, a in written.items()})
    assert raised.value.filename == str(path)
    assert manifest.sha256_file(path) == before and manifest.load(tmp_path)["shards"][0] == entry
    assert not list(tmp_path.glob("*.tmp-*"))


def test_a_shard_built_in_memory_has_the_bytes_h5py_writes_on_disk(tmp_path):
    """Same libver, filters, chunks and layout as a file h5py writes itself, byte for byte."""
    rng = np.random.default_rng(3)
    seqs = {f"{i:06d}": fake_arrays(rng) for i in range(3)}
    with ShardWriter(tmp_path / "shard-00000.h5", shard_index=0, settings={},
                     generator_version="t") as w:
        for seq_id, arrays in seqs.items():
            w.add(seq_id, arrays, {})
    with h5py.File(tmp_path / "disk.h5", "w", libver=FILE_FORMAT) as f:
        set_text(f.attrs, "format", SHARD_FORMAT)
        f.attrs["schema_version"] = SCHEMA_VERSION
        set_text(f.attrs, "generator_version", "t")
        f.attrs["shard_index"] = 0
        set_text(f.attrs, "settings", "{}")
        f.attrs.create("gaps", np.asarray([1], "<i8"))
        for seq_id, arrays in seqs.items():
            writer.write_sequence(f.create_group(seq_id), arrays, {"id": seq_id})
    assert (tmp_path / "shard-00000.h5").read_bytes() == (tmp_path / "disk.h5").read_bytes()
