"""`layersynth inspect DIR [--stats]`: counts, objects, occlusion, sizes, settings as a table,
then JSON; `--stats` adds the realism statistics read from the arrays."""

import json
import re
import shutil

import pytest
from clirun import invoke, script, tiny_dataset
from layersynth import open_dataset
from layersynth.pipeline.generation import generate, make_settings
from layersynth.viz.realism import realism_stats
from shard_damage import flip_in_chunk


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


def test_inspect_counts_the_sequences_that_change_depth_order_and_how_often(dataset, tmp_path):
    ran = invoke("inspect", dataset)
    still = ran.last_json()["order_changes"]
    assert still["sequences"] == 0 and still["changes"] == 0 and still["share"] in (0.0, None)
    assert "depth order    one order per clip in all" in ran.out
    out = tmp_path / "reorder"
    settings = make_settings(preset="tiny", seed=3, shard_size=2, frames=8, height=32, width=48,
                             objects=(1, 2), order_change_prob=1.0)
    generate(settings, n=4, out=out, workers=1, scheduler=None)
    with open_dataset(out) as ds:
        multi = sum(len(ds.record(i)["scene"]["objects"]) > 1 for i in ds.ids)
    ran = invoke("inspect", out)
    stats = ran.last_json()["order_changes"]
    assert multi > 0 and stats == {"sequences": multi, "multi_object": multi, "share": 1.0,
                                   "changes": multi, "per_changing_sequence": 1.0}
    assert (f"depth order    changes in {multi} of {multi} multi-object sequences (100%), 1.00 "
            f"per changing sequence ({multi} in all)") in ran.out


def test_the_console_script_writes_the_same_json_to_the_json_file(dataset, tmp_path):
    ran = script("inspect", dataset, "--json", tmp_path / "stats.json")
    assert ran.code == 0
    assert json.loads((tmp_path / "stats.json").read_text()) == ran.last_json()


def test_a_negative_epe_sequence_count_is_refused_naming_the_option(dataset):
    ran = invoke("inspect", dataset, "--epe-sequences", "-1")
    assert "--epe-sequences -1: must be at least 0" in ran.error_line()


def test_a_missing_dir_argument_is_named_in_one_line():
    assert "Missing argument 'DIR'" in invoke("inspect").error_line()


def test_stats_adds_the_realism_table_and_the_same_figures_as_the_library(dataset):
    ran = invoke("inspect", dataset, "--stats")
    assert ran.code == 0, ran.err
    with open_dataset(dataset) as ds:
        want = realism_stats(ds)
    got = ran.last_json()["realism"]
    assert got == json.loads(json.dumps(want))
    assert "motion from flow_gt (exact), gap +1" in ran.out
    for label in ("near-static (< 0.3 px)", "fully occluded", "out of frame", "solidity",
                  "background residual px", "sprite kinds"):
        assert label in ran.out
    n = got["overall"]["object_frames"]
    assert re.search(rf"^  object-frames +{n} ", ran.out, re.MULTILINE)


def test_without_stats_no_array_is_read_and_no_realism_is_reported(dataset, tmp_path):
    copy = tmp_path / "d"
    shutil.copytree(dataset, copy)
    flip_in_chunk(copy / "shard-00000.h5", "000000", "flow_gt")
    plain = invoke("inspect", copy)
    assert plain.code == 0 and "realism" not in plain.last_json()
    line = invoke("inspect", copy, "--stats").error_line()
    assert "shard-00000.h5" in line and "000000" in line and "flow_gt" in line


def test_stats_json_file_holds_the_realism_figures(dataset, tmp_path):
    ran = script("inspect", "--stats", dataset, "--json", tmp_path / "s.json")
    assert ran.code == 0, ran.err
    written = json.loads((tmp_path / "s.json").read_text())
    assert written == ran.last_json() and written["realism"]["sequences"] == 3


def test_stats_on_a_file_that_is_no_dataset_is_named_in_one_line(tmp_path):
    (tmp_path / "x").write_text("x")
    assert str(tmp_path / "x") in invoke("inspect", tmp_path / "x", "--stats").error_line()


def test_stats_takes_no_value():
    assert "--stats" in invoke("inspect", "--stats=yes", "d").error_line()


def test_an_imported_dataset_is_inspected_with_its_raft_flow_and_unknown_sprite_kinds(dataset,
                                                                                     tmp_path):
    assert invoke("export", dataset, "--format", "oclr", "--out", tmp_path / "oclr").code == 0
    ran = invoke("import", tmp_path / "oclr", "--format", "oclr", "--out", tmp_path / "imp")
    assert ran.code == 0, ran.err
    ran = invoke("inspect", tmp_path / "imp", "--stats")
    assert ran.code == 0, ran.err
    realism = ran.last_json()["realism"]
    assert realism["flow"] == "raft" and realism["flow_exact"] is False
    assert list(realism["sprite_kinds"]) == ["unknown"] and ran.last_json()["epe"] == {}
    assert "motion from flow_raft (estimated), gap +1" in ran.out
