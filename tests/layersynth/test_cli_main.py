"""The `layersynth` group: command discovery, --version, --help, one-line errors, light imports."""

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner
from clirun import invoke, script
from layersynth import __version__
from layersynth import cli as commands
from layersynth.cli import main as cli
from layersynth.cli.conventions import OneLineCommand

COMMANDS = ("datasets", "export", "flow", "generate", "inspect", "preview", "validate")
HEAVY = ("torch", "h5py", "cv2", "ptlflow", "dask", "distributed")


def test_every_module_in_commands_becomes_a_sub_command_without_editing_cli():
    names = set(cli.command_modules())
    assert {"generate", "validate", "inspect", "preview", "export"} <= names
    assert set(COMMANDS) <= set(cli.group.list_commands(click.Context(cli.group)))


def test_a_new_command_module_is_discovered(tmp_path, monkeypatch, request):
    (tmp_path / "hello.py").write_text(
        "import click\n\n"
        "@click.command('hello')\n@click.option('--who', default='you')\n"
        "def command(who):\n    print('hi', who)\n    return 0\n")
    monkeypatch.setattr(commands, "__path__", [*commands.__path__, str(tmp_path)])

    def forget():  # the next test sees the package as installed
        sys.modules.pop("layersynth.cli.hello", None)
        vars(commands).pop("hello", None)

    request.addfinalizer(forget)
    assert "hello" in cli.command_modules()
    ran = invoke("hello", "--who", "me")
    assert ran.code == 0 and ran.out == "hi me\n"
    assert "hello" in invoke("--help").out


def test_a_module_without_a_click_command_is_not_a_sub_command():
    assert "conventions" not in cli.command_modules()
    assert all(isinstance(m.command, click.Command) for m in cli.command_modules().values())


def test_version_prints_the_package_version():
    ran = invoke("--version")
    assert ran.code == 0 and ran.out == f"layersynth {__version__}\n"


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_lists_every_command_with_its_one_line_help(flag):
    ran = invoke(flag)
    assert ran.code == 0 and "Usage: layersynth" in ran.out
    for name, module in cli.command_modules().items():
        assert f"  {name}" in ran.out
        assert " ".join(module.HELP.split()[:4]) in ran.out  # the help is not truncated to "..."


@pytest.mark.parametrize("argv, message", [
    (["nonsense"], "No such command 'nonsense'"),
    ([], "a command is required (datasets, export, flow, generate, import, inspect, preview, "
         "validate)"),
    (["--frobnicate"], "No such option '--frobnicate'"),
    (["validate", "--frobnicate", "."], "No such option '--frobnicate'"),
])
def test_a_bad_command_line_gives_exit_2_and_one_line(argv, message):
    assert message in invoke(*argv).error_line()


def test_the_console_script_refuses_an_unknown_command_in_one_line():
    assert "No such command 'nonsense'" in script("nonsense").error_line()


def test_python_dash_m_layersynth_cli_is_the_same_command_line():
    proc = subprocess.run([sys.executable, "-m", "layersynth.cli", "--version"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout == f"layersynth {__version__}\n"


def test_the_entry_point_returns_the_exit_status(capsys):
    assert cli.main(["--version"]) == 0
    assert cli.main(["nonsense"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_importing_the_cli_and_printing_help_load_no_heavy_module():
    code = ("import sys\nfrom layersynth.cli.main import main\nmain(['--help'])\n"
            "for name in ('generate', 'flow', 'datasets'):\n    main([name, '--help'])\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_one_line_commands_report_the_project_way_when_run_by_click_itself():
    @click.command("probe", cls=OneLineCommand)
    @click.option("--n", type=int, required=True)
    def probe(n):
        return 0

    result = CliRunner().invoke(probe, ["--n", "x"])
    assert result.exit_code == 2
    assert result.stderr == "probe: error: Invalid value for '--n': 'x' is not a valid integer.\n"


def test_a_click_command_whose_reader_goes_away_stops_quietly_with_status_141():
    code = ("import click, sys\n"
            "from layersynth.cli.conventions import OneLineCommand, run_command\n"
            "@click.command('many', cls=OneLineCommand)\n"
            "def many():\n    for i in range(200000): print('line', i)\n"
            "sys.exit(run_command(many, [], prog='many'))\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()
    proc.wait(timeout=30)
    assert proc.returncode == 141 and b"Traceback" not in proc.stderr.read()
