"""Textures from a folder of images (PASS or any), behind a cached file index.

Scanning a million files at every start would cost minutes, so the sorted list of image files
(relative path, size, mtime) is cached in `ROOT/.layersynth/textures.idx` (or, when ROOT is not
writable, in the user cache directory; a sub-folder, so that rewriting the cache does not touch
ROOT's own mtime). The cache is reused while no directory under ROOT has
changed (adding, removing or renaming a file changes its directory's mtime); otherwise the folder
is scanned again. A file rewritten in place keeps its directory's mtime: a read that finds a
different size is reported.

`FolderIndex.fingerprint` identifies the set of files by sorted relative paths and sizes (not
mtimes, so a copy of the folder keeps its fingerprint); `describe()` records it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from layersynth.report import warn

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
INDEX_VERSION = 1
MIN_SIDE = 16  # TextureSource contract: h, w >= 16


@dataclass(frozen=True, eq=False)
class FolderIndex:
    """Sorted files under `root` with one of `suffixes`.

    paths: uint8 blob of the relative POSIX paths joined by newlines; `path(i)` decodes one.
    sizes, mtimes: (N,) int64 bytes and ns. dirs: relative directory -> mtime_ns at scan time.
    """

    root: Path
    suffixes: tuple[str, ...]
    blob: np.ndarray
    starts: np.ndarray
    sizes: np.ndarray
    mtimes: np.ndarray
    dirs: dict[str, int]
    fingerprint: str

    def __len__(self) -> int:
        return len(self.sizes)

    def path(self, i: int) -> str:
        end = self.starts[i + 1] - 1 if i + 1 < len(self.starts) else len(self.blob)
        return self.blob[self.starts[i] : end].tobytes().decode("utf-8", "surrogateescape")

    def paths(self) -> list[str]:
        return self.blob.tobytes().decode("utf-8", "surrogateescape").split("\n") if len(self) \
            else []


def scan_folder(root: str | os.PathLike, suffixes: tuple[str, ...]) -> FolderIndex:
    """Walk `root` (not into hidden or symlinked directories) and index files with `suffixes`."""
    root = Path(root)
    rows, dirs, stack = [], {}, [""]
    while stack:
        rel_dir = stack.pop()
        path = root / rel_dir if rel_dir else root
        dirs[rel_dir or "."] = os.stat(path).st_mtime_ns
        with os.scandir(path) as it:
            for e in it:
                if e.name.startswith("."):
                    continue
                rel = f"{rel_dir}/{e.name}" if rel_dir else e.name
                if e.is_dir(follow_symlinks=False):
                    stack.append(rel)
                elif e.name.lower().endswith(suffixes) and e.is_file():
                    st = e.stat()
                    rows.append((rel, st.st_size, st.st_mtime_ns))
    rows.sort()
    return _from_rows(root, suffixes, rows, dirs)


def _from_rows(root: Path, suffixes, rows, dirs) -> FolderIndex:
    names = [r[0].encode("utf-8", "surrogateescape") for r in rows]
    blob = np.frombuffer(b"\n".join(names), dtype=np.uint8)
    lengths = np.array([len(n) + 1 for n in names], dtype=np.int64)
    starts = np.cumsum(lengths) - lengths
    sizes = np.array([r[1] for r in rows], dtype=np.int64)
    mtimes = np.array([r[2] for r in rows], dtype=np.int64)
    return FolderIndex(root, tuple(suffixes), blob, starts, sizes, mtimes, dict(dirs),
                       _fingerprint(blob, sizes))


def _fingerprint(blob: np.ndarray, sizes: np.ndarray) -> str:
    h = hashlib.sha256(blob.tobytes())
    h.update(sizes.astype("<i8").tobytes())
    return h.hexdigest()[:16]


def _dirs_unchanged(root: Path, dirs: dict[str, int]) -> bool:
    for rel, mtime in dirs.items():
        try:
            if os.stat(root / rel).st_mtime_ns != mtime:
                return False
        except OSError:
            return False
    return True


CACHE_SUBDIR = ".layersynth"  # hidden: never indexed, never "extra" for `datasets verify`


def index_cache_path(root: Path, name: str, cache_dir: str | os.PathLike | None) -> Path:
    """`ROOT/.layersynth/name` when ROOT is writable and no cache_dir is given, else a per-root
    file in `cache_dir` (default: $XDG_CACHE_HOME/layersynth or ~/.cache/layersynth)."""
    sub = root / CACHE_SUBDIR
    if cache_dir is None and os.access(sub if sub.is_dir() else root, os.W_OK):
        return sub / name
    base = Path(cache_dir) if cache_dir else Path(
        os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "layersynth"
    tag = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    return base / f"{tag}-{name}"


def save_index(index: FolderIndex, dest: Path) -> None:
    header = {"version": INDEX_VERSION, "suffixes": list(index.suffixes), "dirs": index.dirs,
              "fingerprint": index.fingerprint}
    buf = io.BytesIO()
    np.savez_compressed(buf, header=np.frombuffer(json.dumps(header).encode(), np.uint8),
                        blob=index.blob, starts=index.starts, sizes=index.sizes,
                        mtimes=index.mtimes)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{dest.name}.{os.getpid()}.part")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, dest)  # concurrent builders each write whole files; the last rename wins


def read_index(root: Path, src: Path) -> FolderIndex | None:
    """The cached index at `src`, or None if absent, unreadable or of another version."""
    try:
        with np.load(src) as z:
            header = json.loads(z["header"].tobytes())
            if header.get("version") != INDEX_VERSION:
                return None
            return FolderIndex(root, tuple(header["suffixes"]), z["blob"], z["starts"],
                               z["sizes"], z["mtimes"], header["dirs"], header["fingerprint"])
    except (OSError, ValueError, KeyError):
        return None


def load_or_build_index(root: str | os.PathLike, *, suffixes: tuple[str, ...] = IMAGE_SUFFIXES,
                        name: str = "textures.idx",
                        cache_dir: str | os.PathLike | None = None) -> tuple[FolderIndex, bool]:
    """(index, rebuilt): the cached index when still valid, else a fresh scan (then cached)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such directory")
    dest = index_cache_path(root, name, cache_dir)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)  # before the scan records ROOT's mtime
    except OSError:
        pass
    cached = read_index(root, dest)
    if cached is not None and cached.suffixes == tuple(suffixes) and \
            _dirs_unchanged(root, cached.dirs):
        return cached, False
    index = scan_folder(root, tuple(suffixes))
    try:
        save_index(index, dest)
    except OSError:
        pass  # a read-only place: the index still serves this run
    return index, True


# ----------------------------------------------------------------------------- texture source


class TextureFolder:
    """TextureSource over the images of a folder: `get(i)` -> (h, w, 3) uint8, C-contiguous.

    Images are decoded as RGB and shrunk so that their longer side is at most `max_side` pixels
    (PASS photographs are larger than any crop a 128 x 224 scene takes); sides below 16 pixels
    are enlarged. An unreadable file is reported once (stderr) and replaced by the next readable
    image in index order, so a sequence stays reproducible from the same folder.
    """

    def __init__(self, root: str | os.PathLike, *, max_side: int = 512,
                 cache_dir: str | os.PathLike | None = None, cache_items: int = 64) -> None:
        self.index, self.rebuilt = load_or_build_index(root, cache_dir=cache_dir)
        if len(self.index) == 0:
            raise ValueError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
        self.root = Path(root)
        self.max_side = max_side
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_items = cache_items
        self._bad: set[int] = set()

    def __len__(self) -> int:
        return len(self.index)

    def get(self, i: int) -> np.ndarray:
        i = int(i) % len(self)
        if i in self._cache:
            self._cache.move_to_end(i)
            return self._cache[i]
        image = self._first_readable(i)
        self._cache[i] = image
        if len(self._cache) > self._cache_items:
            self._cache.popitem(last=False)
        return image

    def _first_readable(self, i: int) -> np.ndarray:
        for k in range(len(self)):
            j = (i + k) % len(self)
            if j in self._bad:
                continue
            try:
                return self._decode(j)
            except (OSError, ValueError) as err:
                self._bad.add(j)
                warn(f"{self.root / self.index.path(j)}: unreadable image skipped ({err})")
        raise ValueError(f"{self.root}: none of the {len(self)} images can be read")

    def _decode(self, j: int) -> np.ndarray:
        path = self.root / self.index.path(j)
        if path.stat().st_size != self.index.sizes[j]:
            warn(f"{path}: changed since the folder was indexed (size differs)")
        with Image.open(path) as img:
            img.draft("RGB", (self.max_side, self.max_side))  # JPEG: decode at a reduced scale
            rgb = img.convert("RGB")
            rgb = _fit(rgb, self.max_side)
            return _frozen(np.asarray(rgb, dtype=np.uint8))

    def describe(self) -> dict:
        return {"kind": "folder", "root": str(self.root), "count": len(self),
                "fingerprint": self.index.fingerprint, "max_side": self.max_side}


def _fit(img, max_side: int):
    w, h = img.size
    scale = min(1.0, max_side / max(w, h))
    scale = max(scale, MIN_SIDE / min(w, h))
    if scale == 1.0:
        return img
    size = (max(MIN_SIDE, round(w * scale)), max(MIN_SIDE, round(h * scale)))
    return img.resize(size, Image.Resampling.BILINEAR if scale > 1 else Image.Resampling.BOX)


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a
