import json
import math
import subprocess
import sys

from layersynth.cli.conventions import OneLineParser, run_main
from layersynth.errors import UsageError
from layersynth.report import emit_json


def test_usage_error_becomes_one_stderr_line_and_exit_status_2(capsys):
    def body():
        raise UsageError("shards/x.h5: not an HDF5 file")

    assert run_main("layersynth", body) == 2
    err = capsys.readouterr().err
    assert err == "layersynth: error: shards/x.h5: not an HDF5 file\n"


def test_a_bad_option_is_a_usage_error_not_a_usage_dump(capsys):
    parser = OneLineParser(prog="p")
    parser.add_argument("--n", type=int)
    assert run_main("p", lambda: parser.parse_args(["--n", "many"])) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_emit_json_prints_strict_json_last_and_writes_the_file(tmp_path, capsys):
    print("a table")
    emit_json({"J": 0.5, "bad": math.nan}, tmp_path / "out.json")
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last) == {"J": 0.5, "bad": None}
    assert json.loads((tmp_path / "out.json").read_text()) == {"J": 0.5, "bad": None}


def test_a_closed_pipe_stops_quietly_with_status_141():
    code = (
        "from layersynth.cli.conventions import run_main\n"
        "import sys\n"
        "def body():\n"
        "    for i in range(200000): print('line', i)\n"
        "sys.exit(run_main('x', body))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()
    proc.wait(timeout=30)
    assert proc.returncode == 141
    assert b"Traceback" not in proc.stderr.read()
