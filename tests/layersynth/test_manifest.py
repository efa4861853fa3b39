import json

import pytest
from fakeshards import write_dataset
from layersynth import open_dataset
from layersynth.store import manifest
from layersynth.store.schema import ShardError


def test_shard_j_holds_ids_from_j_times_s_and_the_last_one_stops_at_n():
    assert manifest.expected_ids(0, 4, 10) == ["000000", "000001", "000002", "000003"]
    assert manifest.expected_ids(2, 4, 10) == ["000008", "000009"]
    assert manifest.expected_ids(3, 4, 10) == []
    assert manifest.n_shards(10, 4) == 3 and manifest.n_shards(8, 4) == 2


def test_save_then_load_keeps_everything_and_sorts_shards(tmp_path):
    data = manifest.new({"seed": 3}, shard_size=2, n=4, generator_version="v")
    data["shards"] = [{"index": 1, "file": "b"}, {"index": 0, "file": "a"}]
    manifest.save(tmp_path, data)
    back = manifest.load(tmp_path)
    assert [e["index"] for e in back["shards"]] == [0, 1]
    assert back["settings"] == {"seed": 3} and back["n"] == 4
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


def test_put_entry_replaces_the_entry_of_the_same_shard(tmp_path):
    manifest.save(tmp_path, manifest.new({}, shard_size=2, n=4, generator_version="v"))
    manifest.put_entry(tmp_path, {"index": 0, "file": "a", "ids": ["000000"]})
    manifest.put_entry(tmp_path, {"index": 0, "file": "a", "ids": ["000000", "000001"]})
    assert manifest.load(tmp_path)["shards"] == [
        {"index": 0, "file": "a", "ids": ["000000", "000001"]}]


def test_missing_or_foreign_manifests_are_refused_with_the_file_name(tmp_path):
    with pytest.raises(ShardError, match="manifest.json: no manifest"):
        manifest.load(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ShardError, match="manifest.json: not a layersynth manifest"):
        manifest.load(tmp_path)
    (tmp_path / "manifest.json").write_text("{truncated")
    with pytest.raises(ShardError, match="manifest.json: unreadable"):
        manifest.load(tmp_path)


def test_a_manifest_of_another_schema_version_is_refused(tmp_path):
    write_dataset(tmp_path, [1])
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(dict(json.loads(path.read_text()), schema_version=99)))
    with pytest.raises(ShardError, match="manifest.json: schema version 99"):
        open_dataset(tmp_path)


def test_listed_returns_the_entry_of_a_file_and_refuses_an_unlisted_one(tmp_path):
    manifest.save(tmp_path, manifest.new({}, shard_size=2, n=4, generator_version="v"))
    entry = manifest.shard_entry(file="shard-00001.h5", index=1, ids=["000002"], arrays=["rgb"],
                                 sha256="0" * 64, size=10)
    manifest.put_entry(tmp_path, entry)
    assert manifest.listed(tmp_path, "shard-00001.h5") == entry
    with pytest.raises(ShardError, match="does not list shard-00000.h5"):
        manifest.listed(tmp_path, "shard-00000.h5")
