"""Reporting to the user: progress and warnings on stderr, and the one JSON object on stdout.

- Commands that report numbers print a readable table, then, as the very last thing on stdout,
  one JSON object (`emit_json`), also written to `--json FILE` when given.
- Warnings and progress go to stderr: a bar on a terminal, plain lines otherwise (`progress`).
Library code of both packages reports through this module, never through a CLI module.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


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
        from tqdm import tqdm  # ~70 ms, on a terminal only; every command imports this module

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
