"""Explicit downloads of the free datasets of `datasets.lock` (`layersynth datasets fetch`).

Nothing else in layersynth downloads. For a dataset whose lock says `"access": "free"`: each file
goes to `NAME.part`, resumed with an HTTP Range request after an interruption (in this run or a
later one), is checked against the lock, then renamed into place atomically. Archives are
verified, then only their listed members are extracted and verified. A gated dataset raises
`GatedDataset` carrying where to get it.
"""

from __future__ import annotations

import http.client
import os
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

from layersynth.assets.lockfile import (
    CHUNK,
    OWN_PREFIX,
    PARTIAL_SUFFIX,
    Archive,
    DatasetSpec,
    FileEntry,
    check_file,
)


class FetchError(RuntimeError):
    """A download failed or its bytes do not match the lock."""


class GatedDataset(RuntimeError):
    """The dataset cannot be downloaded by a program; `.instructions` says where to get it."""

    def __init__(self, name: str, instructions: str):
        super().__init__(f"{name} is gated: {instructions}")
        self.instructions = instructions


def fetch(spec: DatasetSpec, root: str | os.PathLike, *, only: Iterable[str] | None = None,
          retries: int = 3, timeout: float = 60.0,
          log: Callable[[str], None] = lambda s: None) -> dict[str, list[str]]:
    """Download the free dataset `spec` into `root`; return {"fetched": [...], "kept": [...]}.

    Files already present and sound are kept. `only` restricts to these dataset paths. Raises
    GatedDataset for gated sets and FetchError when a download fails or does not verify.
    """
    if spec.access != "free":
        raise GatedDataset(spec.name, spec.get or spec.homepage)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    wanted = set(only) if only else None
    done: dict[str, list[str]] = {"fetched": [], "kept": []}
    for entry in spec.files:
        if entry.url and (wanted is None or entry.path in wanted):
            fresh = download(entry.url, root / entry.path, entry, retries=retries,
                             timeout=timeout, log=log)
            done["fetched" if fresh else "kept"].append(entry.path)
    by_path = {e.path: e for e in spec.files}
    for archive in spec.archives:
        targets = [p for p in archive.members.values() if wanted is None or p in wanted]
        if targets:
            _fetch_archive(archive, root, targets, by_path, done, retries, timeout, log)
    return done


def _fetch_archive(archive: Archive, root: Path, targets: list[str],
                   by_path: dict[str, FileEntry], done: dict, retries: int, timeout: float,
                   log: Callable[[str], None]) -> None:
    todo = [p for p in targets if check_file(root / p, by_path[p])[0] != "ok"]
    done["kept"] += [p for p in targets if p not in todo]
    if not todo:
        return
    scratch = root / f"{OWN_PREFIX}-downloads"
    scratch.mkdir(exist_ok=True)
    entry = FileEntry(archive.path, archive.size, archive.sha256, archive.md5)
    local = scratch / archive.path
    download(archive.url, local, entry, retries=retries, timeout=timeout, log=log)
    member_of = {v: k for k, v in archive.members.items()}
    with zipfile.ZipFile(local) as zf:
        for rel in todo:
            _extract_member(zf, member_of[rel], root / rel, by_path[rel])
            done["fetched"].append(rel)
    local.unlink()
    try:
        scratch.rmdir()
    except OSError:
        pass  # another archive's download is still there


def _extract_member(zf: zipfile.ZipFile, member: str, dest: Path, entry: FileEntry) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + PARTIAL_SUFFIX)
    with zf.open(member) as src, open(part, "wb") as out:
        while chunk := src.read(CHUNK):
            out.write(chunk)
    _move_if_sound(part, dest, entry, f"{member} (from the archive)")


def _move_if_sound(part: Path, dest: Path, entry: FileEntry, what: str) -> None:
    status, reason = check_file(part, entry)
    if status == "corrupt":
        part.unlink()
        raise FetchError(f"{what}: {reason}; the partial file was removed")
    with open(part, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(part, dest)


def download(url: str, dest: Path, entry: FileEntry, *, retries: int = 3, timeout: float = 60.0,
             log: Callable[[str], None] = lambda s: None) -> bool:
    """Fetch `url` to `dest` unless `dest` is already sound; True if bytes were downloaded.

    Bytes go to `dest.part` (resumed with an HTTP Range request after an interruption, in this
    run or a later one), are checked against `entry`, then renamed onto `dest` atomically.
    """
    if check_file(dest, entry)[0] in ("ok", "unverified"):
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + PARTIAL_SUFFIX)
    for attempt in range(retries + 1):
        try:
            _download_into(url, part, entry.size, timeout, log)
            break
        except (OSError, http.client.HTTPException, FetchError) as err:  # URLError: an OSError
            if attempt == retries:
                raise FetchError(f"{url}: {err} (after {retries + 1} tries; "
                                 f"{part} is kept for a later resume)") from err
            log(f"{dest.name}: {err}; resuming (try {attempt + 2} of {retries + 1})")
            time.sleep(min(2.0**attempt, 30.0) * 0.1)
    _move_if_sound(part, dest, entry, url)
    return True


def _download_into(url: str, part: Path, size: int | None, timeout: float,
                   log: Callable[[str], None]) -> None:
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have >= size:
        return  # complete (or too long: the checksum step decides)
    headers = {"User-Agent": "layersynth-datasets-fetch"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                      timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:
            return  # nothing left to send: the part is complete
        raise FetchError(f"HTTP {err.code} {err.reason}") from err
    with resp:
        if have and resp.status != 206:
            have = 0  # the server ignored Range: start over
        total = size if size is not None else _total(resp, have)
        _copy_body(resp, part, have, total, log)


def _total(resp, have: int) -> int | None:
    length = resp.headers.get("Content-Length")
    return None if length is None else have + int(length)


def _copy_body(resp, part: Path, have: int, total: int | None,
               log: Callable[[str], None]) -> None:
    written, last = have, time.monotonic()
    with open(part, "ab" if have else "wb") as out:
        while chunk := resp.read(CHUNK):
            out.write(chunk)
            written += len(chunk)
            if time.monotonic() - last > 5.0:
                last = time.monotonic()
                log(f"{part.name[:-len(PARTIAL_SUFFIX)]}: {written / 1e6:.0f}"
                    f"{f' / {total / 1e6:.0f}' if total else ''} MB")
    if total is not None and written < total:
        raise FetchError(f"connection closed at byte {written} of {total}")
