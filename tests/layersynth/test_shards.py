import json

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layersynth import open_dataset
from layersynth.store import manifest, schema
from layersynth.store.schema import FLOW_SCALE, ShardError
from layersynth.store.writer import ShardWriter, add_arrays


def fake_arrays(rng, k=2, t=3, h=8, w=12):
    """A small sequence that follows the conventions of sequence.py."""
    amodal = np.zeros((k, t, h, w), bool)
    for i in range(k):
        y, x = rng.integers(0, h // 2), rng.integers(0, w // 2)
        amodal[i, :, y : y + h // 2, x : x + w // 2] = True
    modal = np.zeros((t, h, w), np.uint8)
    for i in reversed(range(k)):
        modal[amodal[i]] = i + 1
    return {
        "rgb": rng.integers(0, 256, (t, h, w, 3), dtype=np.uint8),
        "amodal": amodal,
        "modal": modal,
        "occluder": rng.random((t, h, w)) < 0.1,
        "flow_gt": rng.normal(0, 5, (t, 2, h, w, 2)).astype(np.float32),
        "order": np.arange(k, dtype=np.int16),
    }


def write_dataset(root, seqs_per_shard):
    """Write shards of fake sequences plus a manifest; return {id: arrays}."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    n = sum(seqs_per_shard)
    manifest.save(root, manifest.new({"x": 1}, shard_size=max(seqs_per_shard), n=n,
                                     generator_version="test"))
    written, i = {}, 0
    for j, count in enumerate(seqs_per_shard):
        file = manifest.shard_name(j)
        with ShardWriter(root / file, shard_index=j, settings={"x": 1},
                         generator_version="test") as w:
            for _ in range(count):
                sid = manifest.seq_id(i)
                written[sid] = fake_arrays(rng, k=1 + i % 3)
                w.add(sid, written[sid], {"seed": {"entropy": 1, "spawn_key": [0, i]}})
                i += 1
        manifest.put_entry(root, manifest.entry(root, file, j))
    return written


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
    np.testing.assert_array_equal(got["order"], written["order"])
    assert got["flow_gt"].shape == (2, 2, 8, 12, 2)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(-500, 500, allow_nan=False, width=32), min_size=1, max_size=50))
def test_flow_encoding_is_exact_on_decode_and_within_half_a_step(values):
    flow = np.array(values, np.float32)
    stored, clipped = schema.encode("flow_gt", flow)
    decoded = schema.decode("flow_gt", stored)
    assert clipped == 0
    assert np.abs(decoded - flow).max() <= FLOW_SCALE / 2 + 1e-5
    np.testing.assert_array_equal(schema.encode("flow_gt", decoded)[0], stored)


def test_flow_beyond_the_stored_range_is_clipped_and_counted():
    stored, clipped = schema.encode("flow_dis", np.array([600.0, -1.0, -900.0], np.float32))
    assert clipped == 2 and stored[0] == 32767 and stored[2] == -32767


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
    with pytest.raises(ShardError, match="shard-00000.h5.*000000"):
        open_dataset(tmp_path)["000000"]


def test_a_shard_of_a_newer_schema_version_is_refused_with_its_name(tmp_path):
    write_dataset(tmp_path, [1])
    with h5py.File(tmp_path / "shard-00000.h5", "r+") as f:
        f.attrs["schema_version"] = schema.SCHEMA_VERSION + 1
    with pytest.raises(ShardError, match="shard-00000.h5: shard schema version 2 is newer"):
        open_dataset(tmp_path)["000000"]


def test_a_manifest_of_another_schema_version_is_refused(tmp_path):
    write_dataset(tmp_path, [1])
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(dict(json.loads(path.read_text()), schema_version=99)))
    with pytest.raises(ShardError, match="manifest.json: schema version 99"):
        open_dataset(tmp_path)


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


def test_add_arrays_refuses_a_flow_of_the_wrong_shape_and_keeps_the_shard(tmp_path):
    write_dataset(tmp_path, [1])
    before = manifest.sha256_file(tmp_path / "shard-00000.h5")
    with pytest.raises(ValueError, match="flow_raft"):
        add_arrays(tmp_path, "shard-00000.h5",
                   {"000000": {"flow_raft": np.zeros((1, 2, 8, 12, 2), np.float32)}})
    assert manifest.sha256_file(tmp_path / "shard-00000.h5") == before
    assert not list(tmp_path.glob("*.tmp-*"))


def test_every_schema_field_is_documented_in_docs_shards_md():
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "shards.md").read_text()
    assert f"Schema version {schema.SCHEMA_VERSION}" in doc
    for name, field in schema.FIELDS.items():
        assert f"`{name}`" in doc and field.axes in doc
    assert "flow_<method>" in doc and "202021.25" in doc
