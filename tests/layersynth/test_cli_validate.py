"""`layersynth validate DIR [--deep]`: exit 0 only when sound; each bad shard and sequence named."""

import shutil

import h5py
import numpy as np
import pytest
from clirun import invoke, script, tiny_dataset
from layersynth.store import manifest
from layersynth.store.writer import relist


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("ds") / "d")


def copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_validate_passes_a_sound_dataset_and_deep_regenerates_it(dataset):
    ran = invoke("validate", dataset, "--deep")
    assert ran.code == 0 and ran.last_json() == {"ok": True, "deep": True, "shards": 2,
                                                 "sequences": 3, "problems": []}


def test_the_console_script_validates_a_sound_dataset_with_exit_0(dataset):
    ran = script("validate", dataset)
    assert ran.code == 0 and ran.last_json()["ok"] is True
    assert "sound: 2 shards, 3 sequences, 0 problem(s)" in ran.out


def test_validate_names_a_truncated_shard_and_a_corrupted_one(dataset, tmp_path):
    root = copy(dataset, tmp_path / "d")
    cut = root / "shard-00001.h5"
    cut.write_bytes(cut.read_bytes()[:2000])
    ran = invoke("validate", root)
    assert ran.code == 1 and "shard-00001.h5: checksum differs" in ran.out
    data = manifest.load(root)
    data["shards"][1]["sha256"] = manifest.sha256_file(cut)
    manifest.save(root, data)
    ran = invoke("validate", root)
    assert ran.code == 1 and "shard-00001.h5: not a readable HDF5 file" in ran.out
    assert ran.last_json()["problems"][0].startswith("shard-00001.h5")


def test_validate_deep_names_a_sequence_whose_arrays_no_longer_match_its_seed(dataset, tmp_path):
    root = copy(dataset, tmp_path / "d")
    with h5py.File(root / "shard-00000.h5", "r+") as f:
        rgb = f["000001/rgb"]
        rgb[0, 0, 0] = (np.asarray(rgb[0, 0, 0]).astype(int) + 1) % 256
    relist(root, "shard-00000.h5")  # as if the shard had been written so
    assert invoke("validate", root).code == 0
    ran = invoke("validate", root, "--deep", "--workers", "2")
    assert ran.code == 1
    problem = "shard-00000.h5: 000001: rgb differs from its regeneration"
    assert ran.last_json()["problems"] == [problem]


def test_validate_reports_an_unfinished_dataset(dataset, tmp_path):
    root = copy(dataset, tmp_path / "d")
    data = manifest.load(root)
    manifest.save(root, dict(data, shards=data["shards"][:1]))
    ran = invoke("validate", root)
    assert ran.code == 1 and "1 of 3 sequences not generated yet (first 000002)" in ran.out


def test_validate_of_a_folder_without_manifest_is_a_one_line_usage_error(tmp_path):
    assert "manifest.json: no manifest" in invoke("validate", tmp_path).error_line()


def test_validate_refuses_zero_workers_naming_the_option(dataset):
    assert "--workers 0: must be at least 1" in invoke("validate", dataset,
                                                       "--workers", "0").error_line()
