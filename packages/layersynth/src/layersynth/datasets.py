"""External datasets: the lock file, verification of local copies, user locks, explicit fetch.

`datasets.lock` (JSON; shipped as layersynth/data/datasets.lock and copied at the repository root)
names each external dataset (`pass`, `ytvos`, `videos`): source URLs, version, licence, and the
files with size and checksums. A checksum that is published somewhere we could not read is
recorded as "unknown", never guessed. Verification uses sha256 where known, else md5, else the
size alone (such a file is reported "unverified", not "ok").

A user's own copy can be recorded with `make_user_lock` (sizes and sha256 of every file in the
dataset's scope) into `ROOT/.layersynth-datasets.lock`; `verify` prefers that record when present.

Generation never downloads. `fetch` is the one function that does, for datasets whose lock says
`"access": "free"`: resumable (HTTP Range onto `NAME.part`), checksum-verified, then moved into
place with an atomic rename. Gated datasets raise `GatedDataset` carrying where to get them.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import hashlib
import http.client
import json
import os
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath

LOCK_NAME = "datasets.lock"
USER_LOCK_NAME = ".layersynth-datasets.lock"
OWN_PREFIX = ".layersynth"  # our caches, user locks and download scratch: never "extra"
PARTIAL_SUFFIX = ".part"
UNKNOWN = "unknown"
CHUNK = 1 << 20


class LockError(ValueError):
    """The lock file (shipped or user) is malformed or does not name the dataset."""


class FetchError(RuntimeError):
    """A download failed or its bytes do not match the lock."""


class GatedDataset(RuntimeError):
    """The dataset cannot be downloaded by a program; `.instructions` says where to get it."""

    def __init__(self, name: str, instructions: str):
        super().__init__(f"{name} is gated: {instructions}")
        self.instructions = instructions


@dataclass(frozen=True)
class FileEntry:
    """One file of a dataset, `path` relative to its root (POSIX separators). None = unknown."""

    path: str
    size: int | None
    sha256: str | None = None
    md5: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Archive:
    """A download whose listed `members` (archive name -> dataset path) become dataset files."""

    url: str
    path: str
    size: int | None
    sha256: str | None
    md5: str | None
    members: dict[str, str]


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str
    version: str
    licence: str
    homepage: str
    access: str  # "free" or "gated"
    get: str  # where to get a gated dataset
    scope: tuple[str, ...]  # globs (relative paths) that `verify` and `make_user_lock` look at
    files: tuple[FileEntry, ...]
    archives: tuple[Archive, ...] = ()
    layout: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- lock parsing


def shipped_lock_path() -> Path:
    return Path(str(resources.files("layersynth") / "data" / LOCK_NAME))


def load_lock(path: str | os.PathLike | None = None) -> dict[str, DatasetSpec]:
    """Parse a lock file (default: the one shipped in the package) into specs by name."""
    path = Path(path) if path else shipped_lock_path()
    try:
        obj = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise LockError(f"{path}: cannot read the lock: {err}") from err
    if not isinstance(obj, dict) or not isinstance(obj.get("datasets"), dict):
        raise LockError(f"{path}: no 'datasets' object")
    try:
        return {name: _spec(name, d) for name, d in obj["datasets"].items()}
    except (KeyError, TypeError, ValueError) as err:
        raise LockError(f"{path}: malformed entry: {err}") from err


def _spec(name: str, d: dict) -> DatasetSpec:
    return DatasetSpec(
        name=name, title=d["title"], version=d["version"], licence=d["licence"],
        homepage=d.get("homepage", ""), access=d["access"], get=d.get("get", ""),
        scope=tuple(d.get("scope", ["**"])), files=tuple(_entry(f) for f in d["files"]),
        archives=tuple(_archive(a) for a in d.get("archives", [])), layout=d.get("layout", {}),
    )


def _known(value: str | None) -> str | None:
    return None if value in (None, "", UNKNOWN) else str(value).lower()


def _safe_path(path: str) -> str:
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise ValueError(f"unsafe path {path!r} (must be relative, without '..')")
    return p.as_posix()


def _entry(f: dict) -> FileEntry:
    size = f.get("size")
    return FileEntry(path=_safe_path(f["path"]), size=None if size is None else int(size),
                     sha256=_known(f.get("sha256")), md5=_known(f.get("md5")), url=f.get("url"))


def _archive(a: dict) -> Archive:
    e = _entry(a)
    members = {str(k): _safe_path(v) for k, v in a["members"].items()}
    return Archive(url=a["url"], path=e.path, size=e.size, sha256=e.sha256, md5=e.md5,
                   members=members)


def get_spec(name: str, lock: str | os.PathLike | None = None) -> DatasetSpec:
    specs = load_lock(lock)
    if name not in specs:
        raise LockError(f"{lock or shipped_lock_path()}: no dataset {name!r} "
                        f"(known: {', '.join(sorted(specs))})")
    return specs[name]


# ----------------------------------------------------------------------------- checking files


def file_digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def check_file(path: Path, entry: FileEntry, *, hashes: bool = True) -> tuple[str, str]:
    """Return (status, reason): status is "ok", "unverified", "missing" or "corrupt"."""
    if not path.is_file():
        return "missing", "not found"
    size = path.stat().st_size
    if entry.size is not None and size != entry.size:
        return "corrupt", f"size {size} != {entry.size}"
    algo, want = ("sha256", entry.sha256) if entry.sha256 else ("md5", entry.md5)
    if not want:
        return "unverified", "no published checksum"
    if not hashes:
        return "unverified", "checksum not computed (sizes only)"
    got = file_digest(path, algo)
    return ("ok", algo) if got == want else ("corrupt", f"{algo} {got[:12]}... != {want[:12]}...")


def _own(rel: str) -> bool:
    return any(part.startswith(OWN_PREFIX) for part in rel.split("/")) or rel.endswith(
        PARTIAL_SUFFIX)


def in_scope(rel: str, scope: Iterable[str]) -> bool:
    """`**` matches everything, `DIR/**` everything under DIR, other globs the whole path."""
    for pat in scope:
        if pat == "**" or (pat.endswith("/**") and rel.startswith(pat[:-2])):
            return True
        if fnmatch.fnmatchcase(rel, pat):
            return True
    return False


def scan_scope(root: Path, scope: Iterable[str]) -> list[str]:
    """Sorted relative POSIX paths of the files under `root` in `scope`, without our own files."""
    scope = tuple(scope)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(OWN_PREFIX)]
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        for name in filenames:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if not _own(rel) and in_scope(rel, scope):
                found.append(rel)
    return sorted(found)


# ----------------------------------------------------------------------------- verify


@dataclass
class VerifyReport:
    """Outcome of `verify`; `sound` when nothing listed is missing or corrupt (extras allowed)."""

    name: str
    root: str
    lock: str
    ok: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    corrupt: list[tuple[str, str]] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def sound(self) -> bool:
        return not self.missing and not self.corrupt

    def to_json(self) -> dict:
        return {"name": self.name, "root": self.root, "lock": self.lock, "sound": self.sound,
                "counts": {k: len(getattr(self, k)) for k in
                           ("ok", "unverified", "missing", "corrupt", "extra")},
                "missing": self.missing, "extra": self.extra,
                "corrupt": [{"path": p, "reason": r} for p, r in self.corrupt]}


def expected_files(spec: DatasetSpec, root: Path) -> tuple[list[FileEntry], str]:
    """The entries to check: the user's lock in `root` if any, else the shipped lock's list."""
    user = root / USER_LOCK_NAME
    if user.is_file():
        return read_user_lock(user, spec.name), str(user)
    entries = list(spec.files)
    if spec.layout.get("annotations"):
        entries += _entries_from_meta(root, spec.layout)
    return entries, "shipped datasets.lock"


def _entries_from_meta(root: Path, layout: dict) -> list[FileEntry]:
    """YouTube-VOS: meta.json lists each video's annotated frames; no checksums are published."""
    try:
        videos = json.loads((root / layout["meta"]).read_text())["videos"]
    except (OSError, ValueError, KeyError, TypeError):
        return []  # meta.json itself is then reported missing or corrupt
    paths = set()
    for video, info in videos.items():
        for obj in info.get("objects", {}).values():
            for frame in obj.get("frames", []):
                paths.add(layout["annotations"].format(video=video, frame=frame))
    return [FileEntry(path=p, size=None) for p in sorted(paths)]


def verify(spec: DatasetSpec, root: str | os.PathLike, *, hashes: bool = True,
           each: Callable[[Iterable], Iterable] = iter) -> VerifyReport:
    """Check the copy of `spec` under `root`: missing, corrupt, unverified, ok and extra files.

    `each` wraps the iteration over files (a progress bar); `hashes=False` checks sizes only.
    """
    root = Path(root)
    entries, source = expected_files(spec, root)
    report = VerifyReport(spec.name, str(root), source)
    for entry in each(entries):
        status, reason = check_file(root / entry.path, entry, hashes=hashes)
        if status == "corrupt":
            report.corrupt.append((entry.path, reason))
        else:
            getattr(report, status).append(entry.path)
    listed = {e.path for e in entries}
    report.extra = [p for p in scan_scope(root, spec.scope) if p not in listed]
    if spec.layout.get("meta") in listed and spec.layout.get("meta") in report.missing:
        report.extra = []  # without meta.json every annotation would look extra
    return report


# ----------------------------------------------------------------------------- user locks


def read_user_lock(path: Path, name: str) -> list[FileEntry]:
    try:
        obj = json.loads(path.read_text())
        if obj.get("name") != name:
            raise LockError(f"{path}: records dataset {obj.get('name')!r}, not {name!r}")
        return [_entry(f) for f in obj["files"]]
    except (OSError, ValueError, KeyError, TypeError) as err:
        if isinstance(err, LockError):
            raise
        raise LockError(f"{path}: malformed user lock: {err}") from err


def make_user_lock(spec: DatasetSpec, root: str | os.PathLike, *,
                   each: Callable[[Iterable], Iterable] = iter) -> Path:
    """Record size and sha256 of every file in the dataset's scope; return the lock's path."""
    root = Path(root)
    files = []
    for rel in each(scan_scope(root, spec.scope)):
        path = root / rel
        files.append({"path": rel, "size": path.stat().st_size,
                      "sha256": file_digest(path, "sha256")})
    record = {"lock_version": 1, "name": spec.name, "version": spec.version,
              "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
              "files": files}
    dest = root / USER_LOCK_NAME
    _atomic_write(dest, json.dumps(record, indent=1) + "\n")
    return dest


def _atomic_write(dest: Path, text: str) -> None:
    tmp = dest.with_name(dest.name + f".{os.getpid()}{PARTIAL_SUFFIX}")
    tmp.write_text(text)
    os.replace(tmp, dest)


# ----------------------------------------------------------------------------- fetch


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
