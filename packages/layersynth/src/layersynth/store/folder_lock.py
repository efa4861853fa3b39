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
def hold(folder: str | os.PathLike, command: str, *, shared: bool = False) -> Iterator[Path]:
    """Hold `folder` (created if missing) while the block runs; yields the lock path.

    Exclusive by default. `shared=True` lets several holders of the same kind run together (e.g.
    flow passes over different parts) while an exclusive holder excludes them all. Raises
    FolderInUse at once, naming the holder's command and pid, if the folder is held the other way;
    InputError if the folder cannot be locked at all.
    """
    path = Path(folder) / LOCK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)  # an OSError here names the folder itself
    try:  # not O_APPEND ("a+"), under which Linux's pwrite ignores the offset
        fh = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, 0o644), "r+")
    except OSError as err:
        raise InputError(f"{folder}: cannot lock the folder ({err.strerror})") from err
    with fh:
        try:
            fcntl.flock(fh, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise FolderInUse(f"{folder}: in use by {holder}; wait for it to finish or choose "
                              f"another folder") from None
        line = f"{command} (pid {os.getpid()})\n".encode()  # shared: the latest holder's
        os.pwrite(fh.fileno(), line, 0)
        os.ftruncate(fh.fileno(), len(line))
        try:
            yield path
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
