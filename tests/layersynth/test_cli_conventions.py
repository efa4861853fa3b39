import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from layersynth.cli.conventions import (
    OneLineParser,
    emit_result,
    hdf5_io_error,
    output_file_problem,
    output_folder_problem,
    refuse,
    run_command,
    run_main,
)
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


@pytest.mark.parametrize("err, line", [
    (OSError(errno.ENOSPC, "No space left on device", "out/shard.h5"),
     "out/shard.h5: No space left on device"),
    (OSError(errno.EROFS, "Read-only file system", "a.tmp", None, "a"),
     "a.tmp -> a: Read-only file system"),
    (PermissionError(errno.EACCES, "Permission denied", "/root/x"), "/root/x: Permission denied"),
    (NotADirectoryError(errno.ENOTDIR, "Not a directory", "f/x"), "f/x: Not a directory"),
    (IsADirectoryError(errno.EISDIR, "Is a directory", "d"), "d: Is a directory"),
    (OSError("no errno at all"), "no errno at all"),
])
def test_an_os_error_reaching_run_main_is_one_line_naming_its_paths(err, line, capsys):
    def body():
        raise err

    assert run_main("layersynth", body) == 2
    assert capsys.readouterr().err == f"layersynth: error: {line}\n"


def test_an_hdf5_write_failure_is_read_as_the_os_error_it_reports(capsys):
    text = ("Unable to flush dataset (file write failed: time = Tue Dec  1 11:12:31 2026\n, "
            "filename = 'ds/shard-00000.h5.tmp-7', file descriptor = 4, errno = 28, error "
            "message = 'No space left on device', buf = 0x55, total write size = 434)")

    def body():
        raise RuntimeError(text)

    assert run_main("layersynth", body) == 2
    assert capsys.readouterr().err == (
        "layersynth: error: ds/shard-00000.h5.tmp-7: No space left on device\n")
    assert hdf5_io_error(RuntimeError("a bug, no errno")) is None


def test_any_other_runtime_error_still_propagates():
    def body():
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        run_main("layersynth", body)


def test_output_files_need_an_existing_writable_folder_and_no_folder_in_their_place(tmp_path):
    (tmp_path / "f").write_text("x")
    assert output_file_problem(str(tmp_path / "a.json")) is None
    assert output_file_problem(str(tmp_path / "f")) is None  # overwritten, as `>` does
    assert output_file_problem(str(tmp_path)) == "is a folder, not a file"
    assert output_file_problem(str(tmp_path / "no" / "a.json")).startswith("no such folder")
    assert output_file_problem(str(tmp_path / "f" / "a.json")).endswith("is not a folder")
    assert output_file_problem("") == "expected a file name"


def test_output_folders_may_be_new_but_not_files_nor_under_files(tmp_path):
    (tmp_path / "f").write_text("x")
    assert output_folder_problem(str(tmp_path / "new" / "deeper")) is None
    assert output_folder_problem(str(tmp_path)) is None
    assert output_folder_problem(str(tmp_path / "f")) == "is a file, not a folder"
    assert output_folder_problem(str(tmp_path / "f" / "x")).endswith("is a file, not a folder")
    assert output_folder_problem(" ") == "expected a folder name"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in a 0o555 folder")
def test_a_folder_without_write_permission_is_named_with_the_reason(tmp_path):
    (tmp_path / "ro").mkdir(mode=0o555)
    assert output_folder_problem(str(tmp_path / "ro")).endswith("(Permission denied)")
    assert output_file_problem(str(tmp_path / "ro" / "a.json")).endswith("(Permission denied)")


def test_an_empty_value_is_shown_quoted_in_the_refusal():
    with pytest.raises(UsageError, match=r"^--objects '': expected counts$"):
        refuse(click.Option(["--objects"]), "", "expected counts")


def test_emit_result_writes_the_json_file_whole_or_not_at_all(tmp_path, capsys, monkeypatch):
    emit_result({"a": 1}, str(tmp_path / "r.json"))
    assert json.loads((tmp_path / "r.json").read_text()) == {"a": 1}
    assert capsys.readouterr().out == '{"a": 1}\n'

    def full(self, text):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(OSError) as caught:
        emit_result({"a": 2}, str(tmp_path / "r.json"))
    assert caught.value.filename == str(tmp_path / "r.json")
    monkeypatch.undo()
    assert json.loads((tmp_path / "r.json").read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]
