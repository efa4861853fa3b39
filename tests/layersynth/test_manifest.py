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


def entry(index: int, file: str, ids=("000000",)) -> dict:
    """A well-formed shard entry (the values need not match any file: load checks types)."""
    return manifest.shard_entry(file=file, index=index, ids=list(ids), arrays=["rgb"],
                                sha256="0" * 64, size=10)


def test_save_then_load_keeps_everything_and_sorts_shards(tmp_path):
    data = manifest.new({"seed": 3}, shard_size=2, n=4, generator_version="v")
    data["shards"] = [entry(1, "b", ["000002"]), entry(0, "a")]
    manifest.save(tmp_path, data)
    back = manifest.load(tmp_path)
    assert [e["index"] for e in back["shards"]] == [0, 1]
    assert back["settings"] == {"seed": 3} and back["n"] == 4
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


def test_put_entry_replaces_the_entry_of_the_same_shard(tmp_path):
    manifest.save(tmp_path, manifest.new({}, shard_size=2, n=4, generator_version="v"))
    manifest.put_entry(tmp_path, entry(0, "a"))
    manifest.put_entry(tmp_path, entry(0, "a", ["000000", "000001"]))
    assert manifest.load(tmp_path)["shards"] == [entry(0, "a", ["000000", "000001"])]


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


def good_manifest() -> dict:
    return dict(manifest.new({"seed": 3}, shard_size=2, n=4, generator_version="v"),
                shards=[entry(0, "shard-00000.h5", ["000000", "000001"]),
                        entry(1, "shard-00001.h5", ["000002", "000003"])])


@pytest.mark.parametrize("change, words", [
    (lambda d: d.update(schema_version=1.5), "schema_version: expected an integer, got number 1.5"),
    (lambda d: d.update(schema_version=[1]), "schema_version: expected an integer, got list [1]"),
    (lambda d: d.update(n="4"), 'n: expected an integer >= 0, got string "4"'),
    (lambda d: d.update(n=-1), "n: expected an integer >= 0, got integer -1"),
    (lambda d: d.pop("settings"), "settings: missing (expected an object)"),
    (lambda d: d.update(shards=None), "shards: expected a list of shard entries, got null"),
    (lambda d: d["shards"].append("x"), "shards[2]: expected a shard entry (an object)"),
    (lambda d: d["shards"][1].update(ids=[2]), "shards[1].ids: expected a list of sequence ids"),
    (lambda d: d["shards"][0].update(file="a/b.h5"), "shards[0].file: expected a file name"),
    (lambda d: d["shards"][0].update(sha256="xyz"), "shards[0].sha256: expected 64 hex digits"),
    (lambda d: d["shards"][1].update(index=0), "shards: two entries have the same index"),
    (lambda d: d["shards"][1].update(ids=["000001"]), "sequence 000001 is also listed in"),
])
def test_a_manifest_breaking_the_schema_is_refused_naming_the_key(change, words, tmp_path):
    data = good_manifest()
    change(data)
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ShardError) as caught:
        manifest.load(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / 'manifest.json'}: ")
    assert words in str(caught.value)


def test_keys_the_schema_does_not_know_are_kept_unchecked(tmp_path):
    data = good_manifest()
    data["shards"][0]["chunks"] = {"rgb": ["0" * 64]}
    manifest.save(tmp_path, dict(data, note="added by a newer writer"))
    back = manifest.load(tmp_path)
    assert back["note"] == "added by a newer writer" and "chunks" in back["shards"][0]


def test_a_dataset_folder_that_is_a_file_or_missing_is_named(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ShardError, match="f: is not a folder"):
        manifest.load(tmp_path / "f")
    with pytest.raises(ShardError, match="nowhere: no such folder"):
        manifest.load(tmp_path / "nowhere")
