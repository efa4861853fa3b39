"""`layersynth generate` without --flow: the oclr and syn-val presets store DIS flow beside the
exact flow (so training and scoring see estimated flow, as real video gives), tiny only the
exact flow; an explicit --flow gt stores ground truth only."""

import json

import pytest
from clirun import invoke

FAST = ["--n", "1", "--frames", "3", "--size", "32x48", "--workers", "1"]


@pytest.mark.parametrize("preset, extra, stored", [
    ("oclr", [], ["gt", "dis"]),
    ("syn-val", [], ["gt", "dis"]),
    ("tiny", [], ["gt"]),
    ("oclr", ["--flow", "gt"], ["gt"]),
])
def test_the_flows_stored_by_default_depend_on_the_preset(tmp_path, preset, extra, stored):
    ran = invoke("generate", "--preset", preset, *FAST, *extra, "--out", tmp_path / "d")
    assert ran.code == 0, ran.err
    manifest = json.loads((tmp_path / "d/manifest.json").read_text())
    assert manifest["settings"]["flow"] == stored


def test_a_default_dis_flow_the_clips_cannot_have_is_refused_saying_how_to_do_without(tmp_path):
    ran = invoke("generate", "--preset", "oclr", "--n", "1", "--frames", "1", "--size", "32x48",
                 "--out", tmp_path / "d")
    line = ran.error_line()
    assert "--flow gt,dis (the preset's default flows; --flow gt stores ground truth only)" in line
    assert not (tmp_path / "d").exists()
