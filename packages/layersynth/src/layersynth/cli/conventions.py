"""Conventions shared by every command line of the project (layersynth and oclr), on click.

- A bad option or a missing/malformed input raises `layersynth.errors.InputError` (`UsageError`)
  in library code, or click's own `click.UsageError` while parsing; `run_command` turns either into
  one line on stderr, `PROG: error: MESSAGE`, and exit status 2, never a traceback.
- Output goes through `layersynth.report`: tables, then the one JSON object last on stdout
  (`emit_json`), progress and warnings on stderr.
- A bad value reads `--opt VALUE: problem`: the parameter types below (`AtLeast`, `Parsed`,
  `ExistingPath`) raise it while click parses, before any work; click's own messages ("Invalid
  value for '--n': ...", "Missing option '--out'.") name the option too.
- `OneLineCommand` / `OneLineGroup` report the same way when click runs them standalone (CliRunner,
  `command()`), so a test sees what a user sees.

    @click.command(cls=OneLineCommand, context_settings=CONTEXT)
    @click.option("--n", type=AtLeast(1), required=True, metavar="N", help="...")
    def command(n): ...

    def main(argv=None) -> int:
        return run_command(command, argv, prog="oclr-x")
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

import click

from layersynth.errors import UsageError

# -h works as well as --help; help text wraps at 100 columns like the rest of the project.
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def run_command(command: click.Command, argv: Sequence[str] | None = None, *,
                prog: str) -> int:
    """Run a click command (or group) the project's way; returns the exit status.

    0 (or the command's own int), 2 with one stderr line for a usage or input error, 130 on
    Ctrl-C, 141 when stdout's reader went away (`| head`). --help and --version print and give 0.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    return run_main(prog, lambda: _invoke(command, args, prog))


def _invoke(command: click.Command, args: list[str], prog: str) -> int:
    try:
        result = command.main(args=args, prog_name=prog, standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as err:
        path = err.ctx.command_path if err.ctx else prog
        raise UsageError(f"{_usage_line(err)}; see {path} --help") from err
    except click.UsageError as err:
        raise UsageError(_one_line(err.format_message())) from err
    except click.exceptions.Abort as err:
        raise KeyboardInterrupt from err
    except _StdoutClosed as err:
        raise BrokenPipeError from err
    return int(result or 0)


def _usage_line(err: click.UsageError) -> str:
    ctx = err.ctx
    names = ", ".join(sorted(ctx.command.list_commands(ctx))) if isinstance(
        ctx and ctx.command, click.Group) else ""
    return f"a command is required ({names})" if names else "arguments are required"


def _one_line(message: str) -> str:
    return " ".join(message.split())


def run_main(prog: str, body: Callable[[], int | None]) -> int:
    """Run a command body; map UsageError to one stderr line and exit status 2."""
    try:
        return int(body() or 0)
    except UsageError as err:
        print(f"{prog}: error: {_one_line(str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad option as one line and exits 2 (until every CLI is on click)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


class _StdoutClosed(Exception):
    """BrokenPipeError carried past click, which would otherwise turn it into exit status 1."""


class OneLineMain:
    """Mixin for a click command or group: run standalone (`cmd()`, click's CliRunner) it reports
    through `run_command` as well: one stderr line and exit status 2 for a usage error."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        sys.exit(run_command(self, args, prog=prog_name or self.name))

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BrokenPipeError as err:
            raise _StdoutClosed from err


class OneLineCommand(OneLineMain, click.Command):
    """A click command that reports the project's way wherever it is run."""


class OneLineGroup(OneLineMain, click.Group):
    """A click group that reports the project's way wherever it is run."""


def refuse(param: click.Parameter | None, value, problem: str) -> NoReturn:
    """Refuse a parameter's value in the project's words: `--opt VALUE: problem`."""
    name = param.opts[0] if isinstance(param, click.Option) else (
        param.human_readable_name if param else "value")
    raise UsageError(f"{name} {value}: {problem}")


class AtLeast(click.types.IntParamType):
    """An integer >= `minimum`: "--n 0: must be at least 1"."""

    def __init__(self, minimum: int):
        self.minimum = minimum

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if number < self.minimum:
            refuse(param, value, f"must be at least {self.minimum}")
        return number


class Parsed(click.ParamType):
    """A value read from its text by `parse(text)`, which raises ValueError("problem") for text
    it cannot read: "--size 32: expected HxW, e.g. 128x224"."""

    name = "text"

    def __init__(self, parse: Callable[[str], object]):
        self.parse = parse

    def convert(self, value, param, ctx):
        if not isinstance(value, str):  # a value already read (click may convert twice)
            return value
        try:
            return self.parse(value)
        except ValueError as err:
            refuse(param, value, str(err))


class ExistingPath(click.ParamType):
    """A `Path` that must exist as a "folder" or a "file": "--textures X: no such folder"."""

    name = "path"

    def __init__(self, kind: str):
        if kind not in ("folder", "file"):
            raise ValueError(f"kind: 'folder' or 'file', got {kind!r}")
        self.kind = kind

    def convert(self, value, param, ctx):
        path = Path(value)
        if not (path.is_dir() if self.kind == "folder" else path.is_file()):
            refuse(param, value, f"no such {self.kind}")
        return path
