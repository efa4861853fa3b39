import subprocess
import sys

import click
from layersynth.cli.conventions import OneLineParser, run_command, run_main
from layersynth.errors import UsageError


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


@click.group()
def toy():
    """A toy group."""


@toy.command()
@click.option("--n", type=int, required=True)
def make(n):
    if n < 0:
        raise UsageError(f"--n {n}: must be at least 0")
    print("made", n)
    return 0


def test_run_command_reports_click_usage_errors_in_one_line_naming_the_option(capsys):
    assert run_command(toy, ["make", "--n", "x"], prog="toy") == 2
    err = capsys.readouterr().err
    assert err.startswith("toy: error: Invalid value for '--n'") and err.count("\n") == 1


def test_run_command_reports_input_errors_raised_by_the_command_in_one_line(capsys):
    assert run_command(toy, ["make", "--n", "-1"], prog="toy") == 2
    assert capsys.readouterr().err == "toy: error: --n -1: must be at least 0\n"


def test_a_group_called_without_a_command_names_its_commands(capsys):
    assert run_command(toy, [], prog="toy") == 2
    err = capsys.readouterr().err
    assert "make" in err and "toy --help" in err and err.count("\n") == 1


def test_run_command_runs_the_command_and_help_exits_0(capsys):
    assert run_command(toy, ["make", "--n", "3"], prog="toy") == 0
    assert capsys.readouterr().out == "made 3\n"
    assert run_command(toy, ["make", "--help"], prog="toy") == 0
    assert "--n" in capsys.readouterr().out
