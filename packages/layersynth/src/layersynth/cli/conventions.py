"""Conventions shared by every command line of the project (layersynth and oclr), on click.

- A bad option or a missing/malformed input raises `layersynth.errors.InputError` (`UsageError`)
  in library code, or click's own `click.UsageError` while parsing; `run_command` turns either into
  one line on stderr, `PROG: error: MESSAGE`, and exit status 2, never a traceback.
- Output goes through `layersynth.report`: tables, then the one JSON object last on stdout
  (`emit_json`), progress and warnings on stderr.

    @click.command(context_settings=CONTEXT)
    @click.option("--n", type=int, required=True, help="...")
    def command(n): ...

    def main(argv=None) -> int:
        return run_command(command, argv, prog="oclr-x")
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

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
        raise UsageError(f"{_usage_line(err)}; see {prog} --help") from err
    except click.UsageError as err:
        raise UsageError(_one_line(err.format_message())) from err
    except click.exceptions.Abort as err:
        raise KeyboardInterrupt from err
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
