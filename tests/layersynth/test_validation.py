"""layersynth.pipeline.validation: the problems of each shard, named by file and sequence."""

import json
import shutil

import h5py
import pytest
from clirun import tiny_dataset
from layersynth.pipeline.validation import (
    check_all,
    check_shard,
    completeness,
    damage_found,
    deep_checker,
)
from layersynth.store import manifest
from shard_damage import flip_in_chunk, without_checksums


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("ds") / "d")


def test_a_sound_shard_has_no_problems_even_when_deep_checked(dataset):
    data = manifest.load(dataset)
    deep = deep_checker(json.dumps(data["settings"], sort_keys=True))
    assert check_shard(dataset, data["shards"][0], deep) == []


def test_a_missing_shard_and_one_with_a_wrong_checksum_are_named(dataset, tmp_path):
    root = tmp_path / "d"
    shutil.copytree(dataset, root)
    entries = manifest.load(root)["shards"]
    (root / entries[0]["file"]).unlink()
    with open(root / entries[1]["file"], "r+b") as f:
        f.seek(100)
        f.write(b"\0" * 16)
    found = dict((e["file"], p) for e, p in check_all(root, entries, None, workers=1))
    assert found[entries[0]["file"]] == [f"{entries[0]['file']}: missing"]
    assert "checksum differs from manifest.json" in found[entries[1]["file"]][0]


def test_a_deep_check_names_the_array_that_differs_from_its_regeneration(dataset, tmp_path):
    root = tmp_path / "d"
    shutil.copytree(dataset, root)
    data = manifest.load(root)
    entry = data["shards"][0]
    seq_id = entry["ids"][0]
    with h5py.File(root / entry["file"], "r+") as f:
        f[seq_id]["occluder"][...] = ~f[seq_id]["occluder"][...]
    entry = dict(entry, sha256=manifest.sha256_file(root / entry["file"]))  # a consistent edit
    deep = deep_checker(json.dumps(data["settings"], sort_keys=True))
    assert check_shard(root, entry, None) == []
    assert check_shard(root, entry, deep) == [
        f"{entry['file']}: {seq_id}: occluder differs from its regeneration"]


def test_completeness_says_how_many_sequences_are_still_to_make(dataset):
    data = manifest.load(dataset)
    assert completeness(data) == []
    more = dict(data, n=data["n"] + 2)
    (line,) = completeness(more)
    assert line.startswith(f"manifest.json: 2 of {data['n'] + 2} sequences not generated yet")


def test_a_shard_whose_checksum_differs_is_also_searched_for_the_damaged_array(dataset, tmp_path):
    root = tmp_path / "d"
    shutil.copytree(dataset, root)
    entry = manifest.load(root)["shards"][1]
    seq_id = entry["ids"][0]
    flip_in_chunk(root / entry["file"], seq_id, "occluder")
    assert check_shard(root, entry) == [
        f"{entry['file']}: checksum differs from manifest.json (modified or corrupt)",
        f"{entry['file']}: sequence {seq_id}: occluder: damaged chunk (checksum mismatch)"]


def test_a_shard_without_chunk_checksums_is_checked_by_its_sha256_alone(dataset, tmp_path):
    root = tmp_path / "d"
    shutil.copytree(dataset, root)
    entry = manifest.load(root)["shards"][0]
    without_checksums(root / entry["file"])  # and its damaged bytes are never decoded:
    assert damage_found(root / entry["file"]) == []
    assert check_shard(root, entry) == [
        f"{entry['file']}: checksum differs from manifest.json (modified or corrupt)"]
