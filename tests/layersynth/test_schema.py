"""The shard schema: how each array is encoded and decoded, the version checks, docs/shards.md."""

from pathlib import Path

import h5py
import numpy as np
import pytest
from fakeshards import fake_arrays, write_dataset
from hypothesis import given, settings
from hypothesis import strategies as st
from layersynth import open_dataset
from layersynth.store import schema
from layersynth.store.schema import FLOW_SCALE, ShardError

DOCS = Path(__file__).parents[2] / "docs" / "shards.md"


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


def test_every_array_but_the_flows_round_trips_exactly_in_its_stored_dtype():
    arrays = fake_arrays(np.random.default_rng(3))
    for name, array in arrays.items():
        stored, clipped = schema.encode(name, array)
        assert stored.dtype == np.dtype(schema.FIELDS[name].stored) and clipped == 0
        decoded = schema.decode(name, stored)
        assert decoded.dtype == np.dtype(schema.FIELDS[name].decoded)
        if not schema.is_flow(name):
            np.testing.assert_array_equal(decoded, array)


def test_a_flow_holding_nan_is_refused():
    with pytest.raises(ValueError, match="NaN"):
        schema.encode("flow_gt", np.array([0.0, np.nan], np.float32))


def test_estimated_flows_take_the_estimated_field_and_unknown_names_are_refused():
    assert schema.field_of("flow_raft") is schema.ESTIMATED_FLOW
    assert schema.field_of("rgb") is schema.FIELDS["rgb"]
    with pytest.raises(KeyError, match="'depth' is not an array"):
        schema.field_of("depth")
    with pytest.raises(KeyError):
        schema.field_of("flow_")


def test_check_sequence_names_a_missing_array_and_a_flow_of_another_shape():
    arrays = fake_arrays(np.random.default_rng(4))
    with pytest.raises(ValueError, match="missing arrays: order"):
        schema.check_sequence({n: a for n, a in arrays.items() if n != "order"})
    with pytest.raises(ValueError, match="flow_dis: shape"):
        schema.check_sequence(dict(arrays, flow_dis=arrays["flow_gt"][:1]))
    schema.check_sequence(dict(arrays, flow_dis=arrays["flow_gt"]))


@pytest.mark.parametrize("order", [[0, 0], [1, 2], [-1, 0]])
def test_an_order_that_is_not_the_ranks_0_to_k_minus_1_is_refused(order):
    arrays = fake_arrays(np.random.default_rng(4), k=2)
    assert not schema.is_ranks(np.int16(order))
    with pytest.raises(ValueError, match=r"order: \[.*\] is not a ranking 0..K-1"):
        schema.check_sequence(dict(arrays, order=np.int16(order)))
    assert schema.is_ranks(np.int16([1, 0]))


def test_the_version_check_refuses_another_format_or_schema_version():
    ok = {"format": schema.SHARD_FORMAT.encode(), "schema_version": schema.SCHEMA_VERSION}
    schema.check_version("s.h5", ok)
    with pytest.raises(ShardError, match="s.h5: not a layersynth shard"):
        schema.check_version("s.h5", dict(ok, format=b"other"))
    with pytest.raises(ShardError, match="schema version 0 is different from"):
        schema.check_version("s.h5", dict(ok, schema_version=0))


def test_a_shard_of_a_newer_schema_version_is_refused_with_its_name(tmp_path):
    write_dataset(tmp_path, [1])
    with h5py.File(tmp_path / "shard-00000.h5", "r+") as f:
        f.attrs["schema_version"] = schema.SCHEMA_VERSION + 1
    newer = schema.SCHEMA_VERSION + 1
    with pytest.raises(ShardError, match=f"shard-00000.h5: shard schema version {newer} is newer"):
        open_dataset(tmp_path)["000000"]


def test_contents_lists_sorted_ids_and_the_arrays_every_sequence_holds(tmp_path):
    write_dataset(tmp_path, [2])
    with h5py.File(tmp_path / "shard-00000.h5", "r+") as f:
        f["000001"].create_dataset("flow_dis", data=np.zeros(1))
        ids, arrays = schema.contents(f)
    assert ids == ["000000", "000001"]
    assert arrays == ["amodal", "flow_gt", "modal", "occluder", "order", "rgb"]


def test_every_schema_field_is_documented_in_docs_shards_md():
    doc = DOCS.read_text()
    assert f"Schema version {schema.SCHEMA_VERSION}" in doc
    for name, field in schema.FIELDS.items():
        assert f"`{name}`" in doc and field.axes in doc
    assert "flow_<method>" in doc and "202021.25" in doc
