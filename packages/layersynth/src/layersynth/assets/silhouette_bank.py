"""Object silhouettes extracted from YouTube-VOS annotations, cached as one compressed .npz.

Input: a YouTube-VOS train root, `ROOT/Annotations/<video>/<frame>.png`, palette PNGs whose pixel
value is the object id (0 background; 255, where present, is "void" as in DAVIS and is ignored).
From a few evenly spaced annotated frames per video, each object's mask is kept when usable:
- area at least `min_area` of the frame (tiny masks are all outline),
- solidity (area / convex hull area) at least `min_solidity` (rejects stringy, broken masks),
- not within `border_margin` pixels of the frame border (the object would be cut off),
- one 8-connected component after dropping specks below `speck_fraction` of its area.
Holes are kept: they are part of the object's shape (the amodal mask has them too).
Kept masks are cropped to their bounding box and shrunk to `max_side`; the renderer deforms them
with a grid of thin-plate-spline control points.

The bank is cached in `ROOT/.layersynth/silhouettes-<config digest>.npz` (or a cache dir) and
rebuilt when the annotation files or the config change. Unreadable PNGs, and PNGs that are not
palette or grey-level images, are skipped with a warning naming them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from layersynth.assets.texture_folder import index_cache_path, load_or_build_index
from layersynth.report import warn

BANK_VERSION = 1
VOID = 255


@dataclass(frozen=True)
class BankConfig:
    """Which masks are usable. Defaults and why:

    - frames_per_video=4: consecutive annotations (every 5th frame) of one object look alike;
      a few spread-out frames per video give most of the variety at a fraction of the reads.
    - min_area=0.002: of the frame area (1,843 px at 1280x720), below which masks are outline.
    - min_solidity=0.5: keeps animals with legs and people with arms, rejects slivers.
    - border_margin=1, speck_fraction=0.01, max_side=160 (sprites are at most ~80 px at 128 rows).
    """

    frames_per_video: int = 4
    min_area: float = 0.002
    min_solidity: float = 0.5
    border_margin: int = 1
    speck_fraction: float = 0.01
    max_side: int = 160

    def __post_init__(self) -> None:
        if self.frames_per_video < 1 or self.max_side < 8 or self.border_margin < 0:
            raise ValueError(f"BankConfig: frames_per_video >= 1, max_side >= 8, "
                             f"border_margin >= 0; got {self}")
        for name in ("min_area", "min_solidity", "speck_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"BankConfig.{name}: a fraction in [0, 1], got "
                                 f"{getattr(self, name)}")

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


# ----------------------------------------------------------------------------- one frame


def read_ids(path: Path) -> np.ndarray:
    """(H, W) uint8 object ids of an annotation PNG; ValueError if it is not palette/grey."""
    with Image.open(path) as img:
        if img.mode not in ("P", "L", "1"):
            raise ValueError(f"mode {img.mode}, not a palette PNG of object ids")
        return np.asarray(img if img.mode != "1" else img.convert("L"), dtype=np.uint8)


def usable_mask(mask: np.ndarray, cfg: BankConfig) -> np.ndarray | None:
    """The cleaned (H, W) bool mask of one object if usable under `cfg`, else None."""
    import cv2  # heavy (~0.3 s): only while a --silhouettes bank is built

    m8 = mask.view(np.uint8) if mask.dtype == bool else (mask != 0).astype(np.uint8)
    x0, y0, bw, bh = cv2.boundingRect(m8)  # work on the object's box, not the whole frame
    if bw == 0:
        return None
    kept = _one_component(m8[y0 : y0 + bh, x0 : x0 + bw], cfg, mask.shape, (y0, x0))
    if kept is None:
        return None
    out = np.zeros(mask.shape, bool)
    out[y0 : y0 + bh, x0 : x0 + bw] = kept
    return out


def _one_component(box: np.ndarray, cfg: BankConfig, frame_hw, origin) -> np.ndarray | None:
    """The single non-speck component of a (h, w) uint8 box at `origin` (y, x) of the frame."""
    import cv2  # heavy (~0.3 s): only while a --silhouettes bank is built

    _, labels, stats, _ = cv2.connectedComponentsWithStats(box, connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= cfg.speck_fraction * areas.sum()) + 1
    h, w = frame_hw
    if len(keep) != 1 or areas[keep[0] - 1] < cfg.min_area * h * w:
        return None
    x, y, bw, bh = stats[keep[0], :4]
    x, y, m = x + origin[1], y + origin[0], cfg.border_margin
    if x < m or y < m or x + bw > w - m or y + bh > h - m:
        return None
    clean = labels == keep[0]
    return clean if _solidity(clean) >= cfg.min_solidity else None


def _solidity(mask: np.ndarray) -> float:
    import cv2  # heavy (~0.3 s): only while a --silhouettes bank is built

    contours, _ = cv2.findContours(mask.view(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    hull = cv2.convexHull(np.concatenate(contours))
    return float(np.count_nonzero(mask)) / max(cv2.contourArea(hull), 1.0)


def crop_and_fit(mask: np.ndarray, max_side: int) -> np.ndarray:
    """(h, w) bool: `mask` cropped to its bounding box, shrunk so that max(h, w) <= max_side."""
    import cv2  # heavy (~0.3 s): only while a --silhouettes bank is built

    x, y, w, h = cv2.boundingRect(mask.view(np.uint8))
    crop = mask[y : y + h, x : x + w]
    if max(h, w) <= max_side:
        return np.ascontiguousarray(crop)
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(crop.astype(np.float32), size, interpolation=cv2.INTER_AREA) >= 0.5


def frame_silhouettes(ids: np.ndarray, cfg: BankConfig) -> list[tuple[int, np.ndarray]]:
    """[(object id, cropped mask)] of the usable objects of one (H, W) id map."""
    import cv2  # heavy (~0.3 s): only while a --silhouettes bank is built

    counts = cv2.calcHist([ids], [0], None, [256], [0, 256]).ravel()  # np.unique sorts: ~10x
    out = []
    for obj in np.flatnonzero(counts):
        if obj in (0, VOID) or counts[obj] < cfg.min_area * ids.size:
            continue
        clean = usable_mask(ids == obj, cfg)
        if clean is not None:
            out.append((int(obj), crop_and_fit(clean, cfg.max_side)))
    return out


# ----------------------------------------------------------------------------- the bank


def pick_frames(paths: list[str], per_video: int) -> list[str]:
    """Evenly spaced annotation files of each video (paths sorted, "<video>/<frame>.png")."""
    by_video: dict[str, list[str]] = {}
    for p in paths:
        by_video.setdefault(p.rsplit("/", 1)[0], []).append(p)
    picked = []
    for video in sorted(by_video):
        frames = by_video[video]
        idx = np.unique(np.linspace(0, len(frames) - 1, min(per_video, len(frames))).round())
        picked += [frames[int(i)] for i in idx]
    return picked


def extract(annotations: Path, files: list[str], cfg: BankConfig,
            warn=lambda s: None) -> tuple[list[np.ndarray], list[str], int]:
    """(masks, sources "<video>/<frame>.png#<id>", skipped files) from the listed PNGs."""
    masks, sources, skipped = [], [], 0
    for rel in files:
        try:
            ids = read_ids(annotations / rel)
        except (OSError, ValueError, SyntaxError) as err:
            skipped += 1
            warn(f"{annotations / rel}: skipped ({err})")
            continue
        for obj, mask in frame_silhouettes(ids, cfg):
            masks.append(mask)
            sources.append(f"{rel}#{obj}")
    return masks, sources, skipped


def pack(masks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bits uint8, shapes (N, 2) int32, offsets (N + 1,) int64) of bool masks."""
    packed = [np.packbits(m.ravel()) for m in masks]
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in packed])]).astype(np.int64)
    bits = np.concatenate(packed) if packed else np.zeros(0, np.uint8)
    return bits, np.array([m.shape for m in masks], np.int32).reshape(-1, 2), offsets


class SilhouetteBank:
    """SilhouetteSource over a YouTube-VOS train root: `get(i)` -> (h, w) bool, cropped."""

    def __init__(self, root: str | os.PathLike, *, config: BankConfig | None = None,
                 cache_dir: str | os.PathLike | None = None) -> None:
        self.root = Path(root)
        self.config = config or BankConfig()
        annotations = self.root / "Annotations"
        if not annotations.is_dir():
            raise FileNotFoundError(f"{self.root}: no Annotations/ folder (a YouTube-VOS train "
                                    f"root holds Annotations/<video>/<frame>.png)")
        index, _ = load_or_build_index(annotations, suffixes=(".png",), name="annotations.idx",
                                       cache_dir=cache_dir or _own_cache(self.root))
        self.annotations_fingerprint = index.fingerprint
        cache = index_cache_path(self.root, f"silhouettes-{self.config.digest()}.npz", cache_dir)
        self.rebuilt = not self._load(cache)
        if self.rebuilt:
            self._build(annotations, index.paths(), cache)
        if len(self) == 0:
            raise ValueError(f"{annotations}: no usable silhouettes under {self.config}")

    def _load(self, cache: Path) -> bool:
        try:
            with np.load(cache) as z:
                header = json.loads(z["header"].tobytes())
                if header != self._header(header.get("skipped", 0)):
                    return False
                self._bits, self._shapes, self._offsets = z["bits"], z["shapes"], z["offsets"]
                self.sources = json.loads(z["sources"].tobytes())
                self.skipped = header["skipped"]
                return True
        except (OSError, ValueError, KeyError):
            return False

    def _header(self, skipped: int) -> dict:
        return {"version": BANK_VERSION, "config": asdict(self.config),
                "annotations_fingerprint": self.annotations_fingerprint, "skipped": skipped}

    def _build(self, annotations: Path, paths: list[str], cache: Path) -> None:
        files = pick_frames(paths, self.config.frames_per_video)
        masks, self.sources, self.skipped = extract(annotations, files, self.config, warn)
        self._bits, self._shapes, self._offsets = pack(masks)
        buf = io.BytesIO()
        np.savez_compressed(buf, bits=self._bits, shapes=self._shapes, offsets=self._offsets,
                            header=_json_bytes(self._header(self.skipped)),
                            sources=_json_bytes(self.sources))
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(f"{cache.name}.{os.getpid()}.part")
            tmp.write_bytes(buf.getvalue())
            os.replace(tmp, cache)
        except OSError as err:
            warn(f"{cache}: silhouette bank not cached ({err})")

    def __len__(self) -> int:
        return len(self._shapes)

    def get(self, i: int) -> np.ndarray:
        h, w = (int(v) for v in self._shapes[i])
        bits = self._bits[self._offsets[i] : self._offsets[i + 1]]
        mask = np.unpackbits(bits, count=h * w).reshape(h, w).astype(bool)
        mask.setflags(write=False)
        return mask

    def describe(self) -> dict:
        return {"kind": "ytvos", "root": str(self.root), "count": len(self),
                "fingerprint": self.annotations_fingerprint, "skipped_files": self.skipped,
                "config": asdict(self.config)}


def _own_cache(root: Path) -> Path | None:
    """ROOT/.layersynth when writable (keeps our files out of Annotations/), else None."""
    path = index_cache_path(root, "x", None).parent
    return path if path.parent == root else None


def _json_bytes(obj) -> np.ndarray:
    return np.frombuffer(json.dumps(obj).encode(), np.uint8)
