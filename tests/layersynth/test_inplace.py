"""Estimated flow added to a dataset in place: every shard once, resumable, split by part."""

import os

import h5py
import numpy as np
import pytest
from fakeshards import write_dataset
from layersynth import open_dataset
from layersynth.estimators.base import FlowEstimator
from layersynth.estimators.inplace import _groups, add_estimated_flow
from layersynth.store import manifest
from layersynth.store.folder_lock import FolderInUse, hold
from layersynth.store.schema import ShardError, encode
from layersynth.store.writer import add_arrays
from shard_damage import flip_in_chunk


class HalfPixel(FlowEstimator):
    """Flow (0.5, -0.25) px everywhere; counts the pairs it is given."""

    name = "half"

    def __init__(self):
        self.pairs = 0

    def estimate_pairs(self, src, dst):
        self.pairs += len(src)
        return np.broadcast_to(np.float32([0.5, -0.25]), (*src.shape[:3], 2)).copy()


def test_every_sequence_gets_the_flow_and_the_manifest_lists_it(tmp_path):
    write_dataset(tmp_path, [2, 2, 1])
    est = HalfPixel()
    report = add_estimated_flow(tmp_path, est)
    assert (report.shards, report.written, report.skipped, report.sequences) == (3, 3, 0, 5)
    assert report.pairs == est.pairs == 5 * 2 * (3 - 1)
    ds = open_dataset(tmp_path)
    assert ds.flow_methods == ["gt", "half"]
    flow = ds.read("000004", ["flow_half"])["flow_half"]
    assert flow.shape == (3, 2, 8, 12, 2)
    np.testing.assert_array_equal(flow[:-1, 0], np.broadcast_to([0.5, -0.25], flow[:-1, 0].shape))
    for entry in manifest.load(tmp_path)["shards"]:
        assert entry["sha256"] == manifest.sha256_file(tmp_path / entry["file"])


def test_a_second_pass_skips_every_shard_and_estimates_nothing(tmp_path):
    write_dataset(tmp_path, [2, 1])
    add_estimated_flow(tmp_path, HalfPixel())
    est = HalfPixel()
    report = add_estimated_flow(tmp_path, est)
    assert (report.written, report.skipped, est.pairs) == (0, 2, 0)


def test_parts_take_the_shards_whose_index_is_the_part_modulo_the_count(tmp_path):
    write_dataset(tmp_path, [1, 1, 1])
    report = add_estimated_flow(tmp_path, HalfPixel(), part=(1, 2))
    assert (report.shards, report.written) == (1, 1)
    listed = {e["index"]: "flow_half" in e["arrays"] for e in manifest.load(tmp_path)["shards"]}
    assert listed == {0: False, 1: True, 2: False}


def test_a_shard_whose_file_is_ahead_of_its_entry_is_only_relisted(tmp_path):
    written = write_dataset(tmp_path, [2])
    with h5py.File(tmp_path / "shard-00000.h5", "r+") as f:
        for sid, arrays in written.items():  # as a pass killed after its rename leaves it
            f[sid].create_dataset("flow_half", data=encode("flow_half", arrays["flow_gt"])[0])
            f[sid]["flow_half"].attrs.create("gaps", np.asarray([1], "<i8"))
    est = HalfPixel()
    report = add_estimated_flow(tmp_path, est)
    assert (report.written, report.skipped, est.pairs) == (0, 1, 0)
    entry = manifest.load(tmp_path)["shards"][0]
    assert "flow_half" in entry["arrays"]
    assert entry["sha256"] == manifest.sha256_file(tmp_path / "shard-00000.h5")


def test_sequences_go_to_the_estimator_in_runs_of_one_size_and_at_most_max_pairs():
    clips = {"a": np.zeros((3, 4, 4, 3)), "b": np.zeros((3, 4, 4, 3)), "c": np.zeros((3, 4, 4, 3)),
             "d": np.zeros((5, 6, 4, 3)), "e": np.zeros((9, 6, 4, 3))}
    assert list(_groups(clips, max_pairs=8)) == [["a", "b"], ["c"], ["d"], ["e"]]
    assert list(_groups(clips, max_pairs=100)) == [["a", "b", "c"], ["d", "e"]]


def files_of(root):
    return {p.name: p.read_bytes() for p in sorted(root.iterdir()) if not p.name.startswith(".")}


def test_a_shard_whose_sha256_differs_stops_the_pass_before_any_shard_changes(tmp_path):
    write_dataset(tmp_path, [2, 2])
    flip_in_chunk(tmp_path / "shard-00001.h5", "000003", "flow_gt")
    before = files_of(tmp_path)
    est = HalfPixel()
    with pytest.raises(ShardError, match="shard-00001.h5: sha256 differs from manifest.json"):
        add_estimated_flow(tmp_path, est)
    assert files_of(tmp_path) == before and est.pairs == 0


def test_a_file_ahead_of_its_entry_with_a_damaged_chunk_is_not_relisted(tmp_path):
    written = write_dataset(tmp_path, [2])
    path = tmp_path / "shard-00000.h5"
    dis = {sid: {"flow_half": a["flow_gt"]} for sid, a in written.items()}
    add_arrays(tmp_path, path.name, dis)  # then "killed" before the manifest update:
    manifest.put_entry(tmp_path, manifest.load(tmp_path)["shards"][0] | {"sha256": "0" * 64,
                                                                         "arrays": ["rgb"]})
    flip_in_chunk(path, "000001", "rgb")
    with pytest.raises(ShardError, match="sequence 000001: rgb: damaged chunk"):
        add_estimated_flow(tmp_path, HalfPixel())
    assert manifest.load(tmp_path)["shards"][0]["sha256"] == "0" * 64


def test_a_pass_shares_the_folder_with_other_passes_but_not_with_generate(tmp_path):
    write_dataset(tmp_path, [1])
    with hold(tmp_path, "layersynth generate"):
        with pytest.raises(FolderInUse, match=f"layersynth generate \\(pid {os.getpid()}\\)"):
            add_estimated_flow(tmp_path, HalfPixel())
    with hold(tmp_path, "layersynth flow", shared=True):  # another pass, running
        assert add_estimated_flow(tmp_path, HalfPixel()).written == 1
        with pytest.raises(FolderInUse, match="in use by layersynth flow"):
            with hold(tmp_path, "layersynth generate"):
                pass
