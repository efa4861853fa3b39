"""An exclusive lock on an output folder for the whole of a run, so two runs never share one.

    with hold(out, "layersynth generate"):
        ...  # a second run on `out` now fails at once with FolderInUse naming this one's pid

The lock is an fcntl lock on `FOLDER/.lock`, which the kernel drops when the holder exits in any
way (kill -9 included), so a dead run never leaves a folder locked; the file itself stays (deleting
a lock file races with the next holder) and holds the holder's command and pid for the message.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from layersynth.errors import InputError

LOCK_NAME = ".lock"


class FolderInUse(InputError):
    """Another live process holds the folder (reported in one line, exit 2)."""


@contextlib.contextmanager
def hold(folder: str | os.PathLike, command: str) -> Iterator[Path]:
    """Hold `folder` (created if missing) exclusively while the block runs; yields the lock path.

    Raises FolderInUse at once, naming the holder's command and pid, if another process holds it.
    """
    path = Path(folder) / LOCK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise FolderInUse(f"{folder}: in use by {holder}; wait for it to finish or choose "
                              f"another folder") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{command} (pid {os.getpid()})\n")
        fh.flush()
        try:
            yield path
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
