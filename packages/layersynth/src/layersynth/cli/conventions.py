"""Conventions shared by every command line of the project (layersynth and oclr), on click.

- A bad option or a missing/malformed input raises `layersynth.errors.InputError` (`UsageError`)
  in library code, or click's own `click.UsageError` while parsing; `run_command` turns either into
  one line on stderr, `PROG: error: MESSAGE`, and exit status 2, never a traceback.
- Output goes through `layersynth.report`: tables, then the one JSON object last on stdout
  (`emit_json`), progress and warnings on stderr.
- A bad value reads `--opt VALUE: problem`: the parameter types below (`AtLeast`, `Parsed`,
  `ExistingPath`, `OutputFile`, `OutputFolder`) raise it while click parses, before any work;
  click's own messages ("Invalid value for '--n': ...", "Missing option '--out'.") name the
  option too. An output that cannot be written (a --json FILE in a missing or read-only folder,
  an --out that is a file) is refused then, not after minutes of work.
- A safety net: an OSError that still reaches `run_main` (a full disk, a folder made read-only
  during the run) becomes one line naming its path(s), `PROG: error: PATH: No space left on
  device`, and exit status 2. Commands still check what they can at the start.
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
import errno
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

import click

from layersynth.errors import UsageError
from layersynth.report import emit_json

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
    except OSError as err:
        print(f"{prog}: error: {os_error_line(err)}", file=sys.stderr)
        return 2
    except RuntimeError as err:
        found = hdf5_io_error(err)  # h5py reports a failed write (a full disk) as RuntimeError
        if found is None:
            raise
        print(f"{prog}: error: {os_error_line(found)}", file=sys.stderr)
        return 2


# How HDF5 names the file and errno of a failed system call, inside h5py's exception text:
# "... (file write failed: ..., filename = 'x.h5', ..., errno = 28, error message = ...)".
_HDF5_IO = re.compile(r"(?:file)?name = '([^']*)'.*?errno = (\d+)", re.DOTALL)


def hdf5_io_error(err: Exception) -> OSError | None:
    """The OSError (errno, file name) that an h5py exception reports in its text, else None."""
    found = _HDF5_IO.search(str(err))
    if not found or not int(found[2]):
        return None
    return OSError(int(found[2]), os.strerror(int(found[2])), found[1])


def os_error_line(err: OSError) -> str:
    """`PATH: problem` (`SRC -> DST: problem` for a rename) of an OSError, on one line."""
    if err.strerror is None and hdf5_io_error(err) is not None:
        err = hdf5_io_error(err)
    paths = [os.fsdecode(p) for p in (err.filename, err.filename2) if p is not None]
    problem = err.strerror or _one_line(str(err)) or type(err).__name__
    return _one_line(f"{' -> '.join(paths)}: {problem}" if paths else problem)


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
    shown = value if str(value).strip() else repr(str(value))  # "--objects '': ..."
    raise UsageError(f"{name} {shown}: {problem}")


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


def output_file_problem(text: str) -> str | None:
    """Why a file cannot be written at path `text` (it is a folder, its folder is missing or not
    writable), or None. Nothing is created: the folder must exist, as for `>` in a shell."""
    if not text.strip():
        return "expected a file name"
    path = Path(text)
    if path.is_dir():
        return "is a folder, not a file"
    folder = path.parent
    if not folder.is_dir():
        return f"no such folder {folder}" if not folder.exists() else f"{folder} is not a folder"
    if path.exists() and not os.access(path, os.W_OK):
        return f"cannot write it ({_why_unwritable(folder)})"
    if not path.exists() and not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot write in {folder} ({_why_unwritable(folder)})"
    return None


def output_folder_problem(text: str) -> str | None:
    """Why path `text` cannot be (or be made) an output folder, or None: it is a file, it sits
    under a file, or the folder (or the nearest existing folder above it) is not writable."""
    if not text.strip():
        return "expected a folder name"
    path = Path(text)
    if path.exists() and not path.is_dir():
        return "is a file, not a folder"
    existing = next(p for p in (path, *path.absolute().parents) if p.exists())
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"cannot write in {existing} ({_why_unwritable(existing)})"
    return None


def _why_unwritable(folder: Path) -> str:
    try:
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    return os.strerror(errno.EROFS if read_only else errno.EACCES)


class OutputFile(click.ParamType):
    """A file this command will write (`--json FILE`), checked before any work: "--json x/a.json:
    no such folder x"."""

    name = "file"

    def convert(self, value, param, ctx):
        problem = output_file_problem(str(value))
        if problem:
            refuse(param, value, problem)
        return value


class OutputFolder(click.ParamType):
    """A folder this command will write in (made if missing), checked before any work: "--out
    x: is a file, not a folder"."""

    name = "folder"

    def convert(self, value, param, ctx):
        problem = output_folder_problem(str(value))
        if problem:
            refuse(param, value, problem)
        return value


def emit_result(obj: dict, json_file: str | None) -> None:
    """`layersynth.report.emit_json`: the JSON last on stdout, and in `json_file` when given,
    written under a temporary name and renamed, so a failed write (a full disk) leaves no
    half-written file; its OSError names `json_file`."""
    if not json_file:
        emit_json(obj)
        return
    path = Path(json_file)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        emit_json(obj, tmp)
        os.replace(tmp, path)
    except OSError as err:
        raise OSError(err.errno, err.strerror, str(path)) from err
    finally:
        tmp.unlink(missing_ok=True)
