"""The one reader: `open_dataset`, Dataset and Shard, decoded arrays, named failures."""

import h5py
import numpy as np
import pytest
from fakeshards import write_dataset
from layersynth import open_dataset
from layersynth.store import manifest
from layersynth.store.reader import Shard
from layersynth.store.schema import FLOW_SCALE, ShardError
from shard_damage import chunk_spans, flip, flip_in_chunk, header_offset, without_checksums


def test_reading_returns_what_was_written_with_flow_within_a_128th_of_a_pixel(tmp_path):
    written = write_dataset(tmp_path, [2, 2, 1])
    ds = open_dataset(tmp_path)
    assert ds.ids == sorted(written) and len(ds) == 5
    for sid, arrays in written.items():
        got = ds[sid]
        assert set(got) == set(arrays)
        for name in ("rgb", "amodal", "modal", "occluder", "order"):
            assert got[name].dtype == arrays[name].dtype
            np.testing.assert_array_equal(got[name], arrays[name])
        assert got["flow_gt"].dtype == np.float32
        assert np.abs(got["flow_gt"] - arrays["flow_gt"]).max() <= FLOW_SCALE / 2 + 1e-6
        quantised = np.rint(arrays["flow_gt"] / FLOW_SCALE) * FLOW_SCALE
        np.testing.assert_array_equal(got["flow_gt"], quantised)
    assert ds.record("000003")["seed"]["spawn_key"] == [0, 3]
    assert ds.flow_methods == ["gt"]


def test_reading_a_frame_window_slices_the_t_axis_of_every_array(tmp_path):
    written = write_dataset(tmp_path, [1])["000000"]
    got = open_dataset(tmp_path).read("000000", frames=slice(1, 3))
    np.testing.assert_array_equal(got["rgb"], written["rgb"][1:3])
    np.testing.assert_array_equal(got["amodal"], written["amodal"][:, 1:3])
    np.testing.assert_array_equal(got["order"], written["order"][1:3])  # (T, K): per frame
    assert got["flow_gt"].shape == (2, 2, 8, 12, 2)


def test_a_shard_lists_the_contents_its_manifest_entry_holds(tmp_path):
    write_dataset(tmp_path, [3])
    entry = manifest.load(tmp_path)["shards"][0]
    with Shard(tmp_path / entry["file"]) as shard:
        assert shard.contents() == (entry["ids"], entry["arrays"])
        assert shard.arrays("000002") == entry["arrays"]


def test_an_unknown_sequence_or_array_is_a_key_error_naming_it(tmp_path):
    write_dataset(tmp_path, [1])
    ds = open_dataset(tmp_path)
    assert "000000" in ds and "000009" not in ds
    with pytest.raises(KeyError, match="no sequence '000009'"):
        ds["000009"]
    with pytest.raises(KeyError, match="has no array 'flow_raft'"):
        ds.read("000000", ["flow_raft"])


def test_a_truncated_shard_is_named_by_the_reader(tmp_path):
    write_dataset(tmp_path, [2, 1])
    path = tmp_path / "shard-00000.h5"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    ds = open_dataset(tmp_path)
    with pytest.raises(ShardError, match="shard-00000.h5"):
        ds["000000"]
    assert ds["000002"]["rgb"].shape == (3, 8, 12, 3)


def test_corrupt_compressed_bytes_are_named_by_the_reader(tmp_path):
    write_dataset(tmp_path, [1])
    path = tmp_path / "shard-00000.h5"
    with h5py.File(path, "r") as f:
        offset = f["000000/flow_gt"].id.get_chunk_info(0).byte_offset
    data = bytearray(path.read_bytes())
    data[offset + 16 : offset + 200] = b"\xff" * 184
    path.write_bytes(bytes(data))
    with pytest.raises(ShardError, match="shard-00000.h5: sequence 000000: flow_gt: damaged chunk"):
        open_dataset(tmp_path)["000000"]


def test_a_flipped_chunk_of_each_array_is_named_with_its_sequence_before_decoding(tmp_path):
    write_dataset(tmp_path, [2])
    path = tmp_path / "shard-00000.h5"
    clean = path.read_bytes()
    for array in ("amodal", "flow_gt", "modal", "occluder", "rgb"):
        path.write_bytes(clean)
        flip_in_chunk(path, "000001", array, chunk=-1)
        with pytest.raises(ShardError) as caught:
            open_dataset(tmp_path).read("000001", [array])
        assert str(caught.value) == (f"{path}: sequence 000001: {array}: damaged chunk "
                                     "(checksum mismatch); run layersynth validate")
        assert open_dataset(tmp_path)["000000"]  # the other sequence still reads


def test_an_inverted_order_chunk_which_fletcher_32_cannot_see_is_refused_by_its_ranks(tmp_path):
    write_dataset(tmp_path, [1])
    path = tmp_path / "shard-00000.h5"
    ((offset, size),) = chunk_spans(path, "000000", "order")
    flip(path, offset, size)  # every data word and the checksum: Fletcher-32 still agrees
    with pytest.raises(ShardError, match=r"sequence 000000: order: damaged chunk \(holds \[\[-1\]"):
        open_dataset(tmp_path)["000000"]


@pytest.mark.parametrize("where", ["/", "000000", "000000/rgb"])
def test_a_flipped_object_header_is_a_shard_error_naming_the_file(tmp_path, where):
    write_dataset(tmp_path, [1])
    path = tmp_path / "shard-00000.h5"
    flip(path, header_offset(path, where) + 6)
    with pytest.raises(ShardError, match=f"^{path}: .*; run layersynth validate$"):
        with open_dataset(tmp_path) as ds:
            ds["000000"], ds.record("000000")


@pytest.mark.parametrize(("obj", "key", "junk"), [
    ("000000", "record", b"\xff\xfe not utf-8"),
    ("000000", "record", b"[1, 2]"),
    ("/", "settings", b"{not json"),
])
def test_a_text_attribute_that_is_not_a_json_object_is_named(tmp_path, obj, key, junk):
    write_dataset(tmp_path, [1])
    path = tmp_path / "shard-00000.h5"
    with h5py.File(path, "r+") as f:
        f[obj].attrs[key] = np.bytes_(junk)
    where = "" if obj == "/" else f"sequence {obj}: "
    with pytest.raises(ShardError, match=f"^{path}: {where}attribute {key}: "):
        with open_dataset(tmp_path) as ds:
            ds.record("000000")


def test_a_shard_without_chunk_checksums_reads_the_same_and_warns_once(tmp_path, monkeypatch,
                                                                       capsys):
    import layersynth.store.reader as reader

    written = write_dataset(tmp_path, [1, 1])
    for shard in ("shard-00000.h5", "shard-00001.h5"):
        without_checksums(tmp_path / shard)
    monkeypatch.setattr(reader, "_warned_unprotected", False)
    with open_dataset(tmp_path) as ds:
        assert not Shard(tmp_path / "shard-00000.h5").has_checksums()
        for sid, arrays in written.items():
            got = ds[sid]
            for name in ("rgb", "amodal", "modal", "occluder", "order"):
                np.testing.assert_array_equal(got[name], arrays[name])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "shard-00000.h5" in err[0] and "no chunk checksums" in err[0]
    assert "`layersynth validate` (sha256 against manifest.json) is its only protection" in err[0]


def _with_order(root, sid: str, order: np.ndarray, version: int | None = None) -> None:
    """Replace one sequence's stored order (and the file's schema version, if given)."""
    path = root / "shard-00000.h5"
    with h5py.File(path, "r+") as f:
        del f[sid]["order"]
        f[sid].create_dataset("order", data=order, chunks=order.shape, fletcher32=True)
        if version is not None:
            f.attrs["schema_version"] = version
    manifest.put_entry(root, dict(manifest.load(root)["shards"][0],
                                  sha256=manifest.sha256_file(path), bytes=path.stat().st_size))


def test_a_per_frame_order_that_changes_round_trips_and_a_window_reads_its_frames(tmp_path):
    written = write_dataset(tmp_path, [3])
    arrays = written["000002"]  # 3 objects
    t = arrays["amodal"].shape[1]
    order = np.tile(np.arange(3, dtype=np.int16), (t, 1))
    order[2:, 1], order[2:, 2] = 2, 1  # channels 1 and 2 swap depth from frame 2 on
    _with_order(tmp_path, "000002", order)
    with open_dataset(tmp_path) as ds:
        np.testing.assert_array_equal(ds["000002"]["order"], order)
        got = ds.read("000002", ["order"], frames=slice(1, 3))["order"]
        assert got.tolist() == [[0, 1, 2], [0, 2, 1]]


def test_a_schema_1_order_per_clip_reads_repeated_over_the_frames(tmp_path):
    written = write_dataset(tmp_path, [3])
    t = written["000001"]["amodal"].shape[1]
    _with_order(tmp_path, "000001", np.array([1, 0], np.int16), version=1)
    with open_dataset(tmp_path) as ds:
        got = ds["000001"]["order"]
        assert got.shape == (t, 2) and got.tolist() == [[1, 0]] * t
        assert ds.read("000001", ["order"], frames=slice(0, 2))["order"].tolist() == [[1, 0]] * 2


def test_an_order_per_clip_in_a_schema_2_shard_is_refused_by_name(tmp_path):
    write_dataset(tmp_path, [2])
    _with_order(tmp_path, "000001", np.array([0, 1], np.int16))
    with pytest.raises(ShardError, match=r"sequence 000001: order: shape \(2,\): schema version 2"):
        open_dataset(tmp_path)["000001"]
