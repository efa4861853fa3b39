"""Conventions shared by every command line of the project (layersynth and oclr).

- A bad option or a missing/malformed input raises `UsageError`; `run_main` turns it (and
  argparse's own errors) into one line on stderr and exit status 2, never a traceback.
- Commands that report numbers print a readable table, then, as the very last thing on stdout,
  one JSON object (`emit_json`), also written to `--json FILE` when given.
- Warnings and progress go to stderr: a bar on a terminal, plain lines otherwise (`progress`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class UsageError(Exception):
    """A problem with the user's input: reported as one line, exit status 2."""


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad option as one line and exits 2 (its usage stays in --help)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def run_main(prog: str, body: Callable[[], int | None]) -> int:
    """Run a command body; map UsageError to one stderr line and exit status 2."""
    try:
        return int(body() or 0)
    except UsageError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _finite(obj: Any) -> Any:
    """Replace NaN/inf by None so the output stays strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def emit_json(obj: dict, json_path: str | os.PathLike | None = None) -> None:
    """Print `obj` as one JSON line, last on stdout; also write it to `json_path` if given."""
    text = json.dumps(_finite(json.loads(json.dumps(obj, default=_json_default))))
    if json_path:
        Path(json_path).write_text(text + "\n")
    sys.stdout.flush()
    print(text, flush=True)


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def progress(items: Iterable[T], total: int | None = None, desc: str = "") -> Iterator[T]:
    """Yield `items`, showing progress on stderr: a tqdm bar on a terminal, else plain lines."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        yield from tqdm(items, total=total, desc=desc, file=sys.stderr, dynamic_ncols=True)
        return
    yield from _plain_progress(items, total, desc)


def _plain_progress(items: Iterable[T], total: int | None, desc: str) -> Iterator[T]:
    start = last = time.monotonic()
    done = 0
    for item in items:
        yield item
        done += 1
        now = time.monotonic()
        if now - last >= 5.0 or done == total:
            last = now
            of = f"/{total}" if total else ""
            print(f"{desc}: {done}{of} done, {now - start:.1f} s", file=sys.stderr, flush=True)
