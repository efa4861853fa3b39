import io
import json
import math

from layersynth import report


def test_emit_json_prints_strict_json_last_and_writes_the_file(tmp_path, capsys):
    print("a table")
    report.emit_json({"J": 0.5, "bad": math.nan}, tmp_path / "out.json")
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last) == {"J": 0.5, "bad": None}
    assert json.loads((tmp_path / "out.json").read_text()) == {"J": 0.5, "bad": None}


def test_progress_off_a_terminal_prints_plain_lines_with_counts_to_stderr(capsys):
    assert list(report.progress(range(3), total=3, desc="shards")) == [0, 1, 2]
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().splitlines()[-1].startswith("shards: 3/3 done")


def test_warn_writes_one_prefixed_line_to_stderr(capsys):
    report.warn("old shard without chunk checksums")
    assert capsys.readouterr().err == "warning: old shard without chunk checksums\n"


def test_emit_json_turns_numpy_values_and_paths_into_json():
    from pathlib import Path

    import numpy as np

    buffer = io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(buffer):
        report.emit_json({"a": np.float32(0.25), "p": Path("x/y"), "v": np.arange(2)})
    assert json.loads(buffer.getvalue()) == {"a": 0.25, "p": "x/y", "v": [0, 1]}
