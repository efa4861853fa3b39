"""Conventions shared by every command line of the project (layersynth and oclr).

A bad option or a missing/malformed input raises `layersynth.errors.InputError` (`UsageError`);
`run_main` turns it (and argparse's own errors) into one line on stderr and exit status 2, never a
traceback. Output goes through `layersynth.report` (tables, the last-line JSON, progress).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from layersynth.errors import UsageError


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
