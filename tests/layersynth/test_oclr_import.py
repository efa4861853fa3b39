"""Reading the released OCLR layout (layersynth.store.oclr_import) and importing it into shards
(layersynth.pipeline.importing), on tiny folders fabricated in tmp_path."""

import json
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from layersynth import open_dataset
from layersynth.pipeline.importing import ImportConfig, import_dataset
from layersynth.store import oclr_import
from layersynth.store.middlebury_flo import write_flo
from layersynth.store.schema import FLOW_SCALE, ShardError
from released_layout import write_released

SPECS = [("2_pair", 4, 16, 24), ("3_trio", 5, 16, 24), ("1_solo", 3, 16, 24)]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("released") / "src"
    return root, write_released(root, SPECS, np.random.default_rng(1))


@pytest.fixture(scope="module")
def imported(source, tmp_path_factory):
    out = tmp_path_factory.mktemp("imported") / "ds"
    summary = import_dataset(ImportConfig(src=source[0], shard_size=2), out)
    return out, summary


def by_name(ds):
    return {ds.record(i)["source"]["sequence"]: i for i in ds.ids}


def test_object_counts_come_from_the_first_character_of_the_folder_names(imported):
    with open_dataset(imported[0]) as ds:
        counts = {name: ds[i]["amodal"].shape[0] for name, i in by_name(ds).items()}
    assert counts == {"2_pair": 2, "3_trio": 3, "1_solo": 1}


def test_ids_follow_the_sorted_folder_names(imported):
    with open_dataset(imported[0]) as ds:
        assert by_name(ds) == {"1_solo": "000000", "2_pair": "000001", "3_trio": "000002"}


def test_amodal_channel_0_is_the_last_file_the_front_most_object(source, imported):
    with open_dataset(imported[0]) as ds:
        got = ds[by_name(ds)["3_trio"]]["amodal"]
    masks = source[1]["3_trio"].masks  # index 0 = file 1, the back-most
    assert np.array_equal(got, masks[::-1])


def test_modal_labels_show_the_front_most_object_where_masks_overlap(source, imported):
    masks = source[1]["3_trio"].masks
    front, back = masks[2], masks[0]
    assert (front & back).any()  # the fabricated rectangles overlap
    with open_dataset(imported[0]) as ds:
        seq = ds[by_name(ds)["3_trio"]]
    assert (seq["modal"][front] == 1).all()
    assert (seq["modal"][back & ~masks[1] & ~front] == 3).all()
    assert (seq["modal"][~masks.any(0)] == 0).all()
    assert seq["order"].tolist() == [[0, 1, 2]] * len(seq["rgb"])  # (T, K): one order per clip


def test_flows_are_the_flo_values_to_the_storage_quantum(source, imported):
    fab = source[1]["2_pair"]
    with open_dataset(imported[0]) as ds:
        flow = ds[by_name(ds)["2_pair"]]["flow_raft"]
    written = ~np.isnan(fab.flows)
    assert np.abs(flow[written] - fab.flows[written]).max() <= FLOW_SCALE / 2 + 1e-6


def test_missing_end_flows_are_the_negated_opposite_gap_and_are_listed(source, imported):
    with open_dataset(imported[0]) as ds:
        seq_id = by_name(ds)["2_pair"]
        flow, record = ds[seq_id]["flow_raft"], ds.record(seq_id)
    assert np.array_equal(flow[-1, 0], -flow[-1, 1])
    assert np.array_equal(flow[0, 1], -flow[0, 0])
    assert record["filled_flows"] == [{"frame": 0, "gap": -1}, {"frame": 3, "gap": 1}]


def test_an_imported_dataset_has_no_ground_truth_flow_and_says_so(source, imported):
    with open_dataset(imported[0]) as ds:
        assert ds.flow_methods == ["raft"]
        seq = ds[ds.ids[0]]
        assert "flow_gt" not in seq
        with pytest.raises(ShardError, match=r"no ground-truth flow: this dataset was imported "
                           r"from .*src; use flow 'raft'"):
            seq["flow_gt"]
        with pytest.raises(ShardError, match="no ground-truth flow"):
            ds.read(ds.ids[0], ["flow_gt"])


def test_the_manifest_marks_the_flow_as_imported_and_the_card_names_the_source(source, imported):
    data = json.loads((imported[0] / "manifest.json").read_text())
    assert data["estimated_flow"]["raft"]["provenance"] == "imported"
    assert data["settings"]["kind"] == "imported"
    assert data["settings"]["source"]["root"] == str(source[0].resolve())
    card = (imported[0] / "DATASET.md").read_text()
    assert str(source[0].resolve()) in card and "no ground-truth flow" in card


def test_resizing_scales_u_and_v_and_keeps_masks_binary_and_the_original_size(tmp_path):
    src = tmp_path / "src"
    write_released(src, [("1_a", 3, 16, 24)], np.random.default_rng(0), ends_missing=False)
    constant = np.broadcast_to(np.float32([2.0, 3.0]), (16, 24, 2))
    for folder in oclr_import.GAP_FOLDERS:
        for t in range(3):
            write_flo(src / folder / "1_a" / f"{t:05d}.flo", constant)
    import_dataset(ImportConfig(src=src, size=(8, 48)), tmp_path / "ds")
    with open_dataset(tmp_path / "ds") as ds:
        seq, record = ds["000000"], ds.record("000000")
    assert seq["rgb"].shape == (3, 8, 48, 3) and seq["amodal"].shape == (1, 3, 8, 48)
    assert np.allclose(seq["flow_raft"][..., 0], 4.0) and np.allclose(seq["flow_raft"][..., 1], 1.5)
    assert record["source"]["height"] == 16 and record["source"]["width"] == 24
    assert ds.settings["size"] == [8, 48]


@settings(max_examples=30, deadline=None)
@given(arrays(bool, st.tuples(st.integers(1, 4), st.just(2), st.just(3), st.just(4))))
def test_composed_labels_name_the_nearest_covering_layer(amodal):
    modal = oclr_import.compose_modal(amodal)
    nearest = np.where(amodal.any(0), amodal.argmax(0) + 1, 0)
    assert np.array_equal(modal, nearest)


def test_a_summary_counts_sequences_frames_and_sizes(imported):
    summary = imported[1]
    assert (summary["sequences"], summary["made"], summary["skipped"]) == (3, 3, 0)
    assert summary["frames"] == 12 and summary["shards"] == 2
    assert summary["bytes"] > 0 and summary["source_bytes"] > 0


# --- the schema without ground truth (store.schema, store.writer) --------------------------------

def imported_arrays(rng):
    from fakeshards import fake_arrays

    arrays = fake_arrays(rng)
    arrays["flow_raft"] = arrays.pop("flow_gt")
    return arrays


def test_a_sequence_without_ground_truth_is_refused_unless_the_writer_is_told():
    from layersynth.store.schema import check_sequence

    arrays = imported_arrays(np.random.default_rng(0))
    check_sequence(arrays, ground_truth=False)
    with pytest.raises(ValueError, match="missing arrays: flow_gt"):
        check_sequence(arrays)
    with pytest.raises(ValueError, match="no flow_gt"):
        check_sequence(dict(arrays, flow_gt=arrays["flow_raft"]), ground_truth=False)
    with pytest.raises(ValueError, match="flows none"):
        check_sequence({n: a for n, a in arrays.items() if n != "flow_raft"}, ground_truth=False)


def test_an_estimated_flow_of_another_shape_is_refused_without_ground_truth_too():
    from layersynth.store.schema import check_sequence

    arrays = imported_arrays(np.random.default_rng(0))
    arrays["flow_dis"] = arrays["flow_raft"][:, :, :4]
    with pytest.raises(ValueError, match="flow_dis: shape"):
        check_sequence(arrays, ground_truth=False)


def test_a_flow_added_to_an_imported_shard_must_match_its_imported_flow(imported, tmp_path):
    from layersynth.store.writer import add_arrays

    copy = tmp_path / "ds"
    shutil.copytree(imported[0], copy)
    with open_dataset(copy) as ds:
        shape = ds["000000"]["flow_raft"].shape
    with pytest.raises(ValueError, match="flow_raft"):
        add_arrays(copy, "shard-00000.h5", {"000000": {"flow_dis": np.zeros((1, 2, 4, 4, 2))}})
    add_arrays(copy, "shard-00000.h5", {"000000": {"flow_dis": np.ones(shape, np.float32)}})
    with open_dataset(copy) as ds:
        assert np.array_equal(ds.read("000000", ["flow_dis"])["flow_dis"], np.ones(shape))


def test_a_generated_dataset_still_answers_flow_gt_and_plain_key_errors(tmp_path):
    from fakeshards import write_dataset

    write_dataset(tmp_path, [2])
    with open_dataset(tmp_path) as ds:
        assert ds.imported_from is None
        seq = ds[ds.ids[0]]
        assert seq["flow_gt"].dtype == np.float32
        with pytest.raises(KeyError):
            seq["flow_nothing"]
