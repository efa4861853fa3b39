"""`layersynth export DIR --format oclr --out DIR2`: the OCLR layout; bad requests refused."""

import pytest
from clirun import invoke, script, tiny_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("ds") / "d", n=2)


def test_export_refuses_a_flow_the_dataset_does_not_hold_in_one_line(dataset, tmp_path):
    ran = invoke("export", dataset, "--format", "oclr", "--out", tmp_path / "x", "--flow", "raft")
    line = ran.error_line()
    assert "--flow raft: " in line and "holds flows gt" in line


def test_export_refuses_an_unknown_sequence_and_an_unknown_format(dataset, tmp_path):
    ran = invoke("export", dataset, "--format", "oclr", "--out", tmp_path / "x", "--seq", "007")
    assert "--seq 007: no such sequence" in ran.error_line()
    ran = invoke("export", dataset, "--format", "davis", "--out", tmp_path / "x")
    assert "Invalid value for '--format': 'davis' is not 'oclr'" in ran.error_line()
    assert not (tmp_path / "x").exists()


def test_the_console_script_exports_only_the_sequences_asked_for(dataset, tmp_path):
    ran = script("export", dataset, "--format", "oclr", "--out", tmp_path / "o", "--seq", "000001")
    assert ran.code == 0 and "exported 1 sequences" in ran.out
    assert any("000001" in p.name for p in (tmp_path / "o").rglob("*"))
    assert not any("000000" in p.name for p in (tmp_path / "o").rglob("*"))
