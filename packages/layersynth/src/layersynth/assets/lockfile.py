"""External datasets: the lock file, verification of local copies, user locks, explicit fetch.

`datasets.lock` (JSON; shipped as layersynth/data/datasets.lock and copied at the repository root)
names each external dataset (`pass`, `ytvos`, `videos`): source URLs, version, licence, and the
files with size and checksums. A checksum that is published somewhere we could not read is
recorded as "unknown", never guessed. Verification uses sha256 where known, else md5, else the
size alone (such a file is reported "unverified", not "ok").

A user's own copy can be recorded with `make_user_lock` (sizes and sha256 of every file in the
dataset's scope) into `ROOT/.layersynth-datasets.lock`; `verify` prefers that record when present.

Generation never downloads: `layersynth.assets.fetch` is the one module that does, when a user runs
`layersynth datasets fetch`.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import hashlib
import json
import os
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
    except (KeyError, TypeError, ValueError, AttributeError) as err:  # e.g. a file as text
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
    notes: list[str] = field(default_factory=list)

    @property
    def sound(self) -> bool:
        return not self.missing and not self.corrupt

    def to_json(self, limit: int = 1000) -> dict:
        """Counts are exact; each file list holds at most `limit` names (an extracted PASS
        checked against the archive list would otherwise list 1.4 M extras)."""
        return {"name": self.name, "root": self.root, "lock": self.lock, "sound": self.sound,
                "counts": {k: len(getattr(self, k)) for k in
                           ("ok", "unverified", "missing", "corrupt", "extra")},
                "missing": self.missing[:limit], "extra": self.extra[:limit],
                "corrupt": [{"path": p, "reason": r} for p, r in self.corrupt[:limit]],
                "notes": self.notes}


def expected_files(spec: DatasetSpec, root: Path) -> tuple[list[FileEntry], str]:
    """The entries to check: the user's lock in `root` if any, else the shipped lock's list
    (plus, for YouTube-VOS, the annotations that its meta.json lists)."""
    user = root / USER_LOCK_NAME
    if user.is_file():
        return read_user_lock(user, spec.name), str(user)
    entries = list(spec.files)
    if spec.layout.get("annotations"):
        entries += [FileEntry(p, None) for p in meta_annotations(root, spec.layout)[0]]
    return entries, "shipped datasets.lock"


def meta_annotations(root: Path, layout: dict) -> tuple[list[str], str | None]:
    """YouTube-VOS: (annotation paths that meta.json lists, problem with meta.json or None)."""
    try:
        videos = json.loads((root / layout["meta"]).read_text())["videos"]
        paths = {layout["annotations"].format(video=video, frame=frame)
                 for video, info in videos.items()
                 for obj in info["objects"].values() for frame in obj["frames"]}
    except FileNotFoundError:
        return [], None  # reported as a missing file
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        return [], f"not a YouTube-VOS meta.json ({type(err).__name__}: {err})"
    return sorted(paths), None


def _layout_checks(spec: DatasetSpec, root: Path, report: VerifyReport) -> None:
    """meta.json must parse; a video count other than the published one is noted."""
    layout = spec.layout
    if not layout.get("meta") or report.lock != "shipped datasets.lock":
        return
    paths, problem = meta_annotations(root, layout)
    if problem:
        report.corrupt.append((layout["meta"], problem))
        report.extra = []  # without meta.json every annotation would look extra
    videos = {p.split("/")[1] for p in paths}
    want = layout.get("expected_videos")
    if paths and want and len(videos) != want:
        report.notes.append(f"meta.json lists {len(videos)} videos with annotated objects; "
                            f"the published {spec.name} set has {want}")


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
    if spec.layout.get("meta") in report.missing:
        report.extra = []  # without meta.json every annotation would look extra
    _layout_checks(spec, root, report)
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
