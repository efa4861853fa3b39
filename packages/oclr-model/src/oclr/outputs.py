"""Where a command's outputs go: checked before the work starts, published whole or not at all, and
a failed write (read-only folder, full disk) reported as one `InputError` line naming the path.

- `check_output_file(path, option)`: a file the command writes at the end (e.g. `--json`) can be
  written there, checked before hours of work rather than after.
- `staged_folder(out)`: write a run's outputs into a hidden folder beside `out`; they replace the
  entries of the same name in `out` only once everything is written, so a failed or interrupted
  run leaves `out` as it was (a run killed with SIGKILL can leave the hidden `.OUT.tmp-*` folder).
- `reported_os_errors(path)`: an OSError in the block -> InputError naming its file, else `path`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from layersynth.errors import InputError


def os_problem(err: OSError) -> str:
    """An OSError in words, e.g. "No space left on device (errno 28)"."""
    if err.errno is None:
        return str(err)
    return f"{err.strerror or os.strerror(err.errno)} (errno {err.errno})"


def check_output_file(path: str | os.PathLike | None, option: str) -> None:
    """InputError naming `option` unless a file can be written at `path` (None: nothing asked)."""
    if path is None:
        return
    path = Path(path)
    folder = path.parent
    if path.is_dir():
        problem = "a folder, not a file"
    elif not folder.is_dir():
        problem = f"no folder {folder} to write it in"
    elif path.exists() and not os.access(path, os.W_OK):
        problem = "not writable"
    elif not path.exists() and not os.access(folder, os.W_OK | os.X_OK):
        problem = f"folder {folder} is not writable"
    else:
        return
    raise InputError(f"{option} {path}: {problem}")


@contextlib.contextmanager
def reported_os_errors(path: str | os.PathLike) -> Iterator[None]:
    """Run the block; an OSError it raises becomes an InputError naming the file it concerns (or
    `path`). A closed stdout (BrokenPipeError) passes: the command line handles it."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as err:
        raise InputError(f"{err.filename or path}: {os_problem(err)}") from err


@contextlib.contextmanager
def staged_folder(out: str | os.PathLike, option: str = "--out") -> Iterator[Path]:
    """Yield a fresh hidden folder beside `out` to write into; when the block ends normally its
    entries replace those of the same name in `out` (created with its parents if missing). On any
    error the staged folder is removed and `out` is left as it was."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{option} {out}: a file, not a folder")
    base = _nearest_folder(Path(os.path.abspath(out)).parent)
    # os.mkdir, not tempfile.mkdtemp: the folder becomes `out`, with the umask's mode, not 0700
    stage = base / f".{out.name or 'out'}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        stage.mkdir()
    except OSError as err:
        raise InputError(f"{option} {out}: cannot write there: {os_problem(err)}") from None
    try:
        yield stage
        with reported_os_errors(out):
            publish(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _nearest_folder(path: Path) -> Path:
    while not path.is_dir() and path != path.parent:
        path = path.parent
    return path


def publish(stage: Path, out: Path) -> None:
    """Move the entries of `stage` into `out`, each replacing the entry of the same name."""
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(stage, out)
        return
    for entry in sorted(stage.iterdir()):
        target = out / entry.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        os.replace(entry, target)
