"""`layersynth inspect DIR`: counts, objects, occlusion, sizes, settings as a table, then JSON."""

import json

import pytest
from clirun import invoke, script, tiny_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("ds") / "d")


def test_inspect_prints_a_table_then_json_with_counts_and_settings(dataset):
    ran = invoke("inspect", dataset)
    stats = ran.last_json()
    assert ran.code == 0 and "sequences      3 of 3 requested, in 2 shards" in ran.out
    assert sum(stats["objects"].values()) == 3 and stats["settings"]["seed"] == 3
    assert 0.0 <= stats["occlusion_fraction"]["mean"] <= 1.0
    assert stats["frames"] == 4 and stats["flows"] == ["gt"]


def test_the_console_script_writes_the_same_json_to_the_json_file(dataset, tmp_path):
    ran = script("inspect", dataset, "--json", tmp_path / "stats.json")
    assert ran.code == 0
    assert json.loads((tmp_path / "stats.json").read_text()) == ran.last_json()


def test_a_negative_epe_sequence_count_is_refused_naming_the_option(dataset):
    ran = invoke("inspect", dataset, "--epe-sequences", "-1")
    assert "--epe-sequences -1: must be at least 0" in ran.error_line()


def test_a_missing_dir_argument_is_named_in_one_line():
    assert "Missing argument 'DIR'" in invoke("inspect").error_line()
