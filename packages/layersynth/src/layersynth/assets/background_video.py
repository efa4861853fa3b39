"""Real videos as moving backgrounds: a random crop and time window of a clip.

`--backgrounds DIR` holds video files (read with OpenCV) and/or frame folders (a directory of
images, frames in name order, read with Pillow). A window is a small JSON-safe record
(`VideoWindow`: clip, first frame, crop box, flip), drawn by `sample_window(rng, ...)`; `frames`
turns it into pixels, a pure function of the record and the folder's content. A clip shorter
than the window is played forwards then backwards (ping-pong), so every clip serves any length.

Videos are decoded from their first frame (frame-accurate seeking is codec-dependent; decoding
forward is not), so long videos cost more per window: cut them into short clips for speed.
The clip list and each clip's frame count and size are cached (`ROOT/.layersynth/`), keyed by
the folder index; unreadable videos are skipped with a warning naming them, at every start.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from layersynth.assets.texture_folder import IMAGE_SUFFIXES, index_cache_path, load_or_build_index
from layersynth.report import warn

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
MIN_FRAMES = 2
PROBE_VERSION = 1


@dataclass(frozen=True)
class Clip:
    """A video file or a frame folder: `path` relative to the root, `frames` decodable frames."""

    path: str
    kind: str  # "video" or "frames"
    frames: int
    height: int
    width: int


@dataclass(frozen=True)
class VideoWindow:
    """Frames start, start + 1, ... of clip `clip` (ping-pong past its end), cropped to the box
    (y, x, h, w) in clip pixels, mirrored along x if `flip`, then resized to the output size."""

    clip: int
    start: int
    y: int
    x: int
    h: int
    w: int
    flip: bool

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> VideoWindow:
        return cls(**d)


def pingpong(n_available: int, start: int, count: int) -> np.ndarray:
    """(count,) frame indices start, start + 1, ... reflected at both ends of [0, n_available)."""
    if n_available == 1:
        return np.zeros(count, np.int64)
    period = 2 * (n_available - 1)
    k = (start + np.arange(count)) % period
    return np.where(k < n_available, k, period - k)


def sample_window(rng: np.random.Generator, clip_index: int, clip: Clip, count: int,
                  out_hw: tuple[int, int], scale: tuple[float, float] = (0.6, 1.0)) -> VideoWindow:
    """A window of `count` frames of `clip`: uniform start (0 when the clip is too short), a crop
    with the output's aspect ratio and `scale` (uniform) of the largest such crop, uniform
    position, flipped with probability 1/2."""
    oh, ow = out_hw
    fit = min(clip.height / oh, clip.width / ow)
    s = rng.uniform(*scale)
    h = max(1, min(clip.height, round(oh * fit * s)))
    w = max(1, min(clip.width, round(ow * fit * s)))
    start = int(rng.integers(0, max(clip.frames - count, 0) + 1))
    y = int(rng.integers(0, clip.height - h + 1))
    x = int(rng.integers(0, clip.width - w + 1))
    return VideoWindow(clip_index, start, y, x, h, w, bool(rng.integers(0, 2)))


def crop_resize(frame: np.ndarray, win: VideoWindow, out_hw: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8: one (h, w, 3) frame cropped by `win`, flipped, resized to out_hw."""
    import cv2  # heavy (~0.3 s): only for a --backgrounds folder (renderer imports this module)

    patch = frame[win.y : win.y + win.h, win.x : win.x + win.w]
    if win.flip:
        patch = patch[:, ::-1]
    oh, ow = out_hw
    interp = cv2.INTER_AREA if win.h > oh else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(patch), (ow, oh), interpolation=interp)


# ----------------------------------------------------------------------------- reading clips


def read_video(path: Path, last: int) -> list[np.ndarray]:
    """RGB frames 0..last (fewer if the file ends or breaks earlier) of a video file."""
    import cv2  # heavy (~0.3 s): only for a --backgrounds folder (renderer imports this module)

    cap = cv2.VideoCapture(str(path))
    frames = []
    try:
        while len(frames) <= last:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()
    return frames


def read_frame_file(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8)


def probe_video(path: Path) -> tuple[int, int, int]:
    """(frames, height, width) by decoding the whole file; ValueError if it yields no frame."""
    import cv2  # heavy (~0.3 s): only for a --backgrounds folder (renderer imports this module)

    cap = cv2.VideoCapture(str(path))
    n, shape = 0, None
    try:
        while True:
            ok = cap.grab()
            if not ok:
                break
            if shape is None:
                ok, bgr = cap.retrieve()
                shape = bgr.shape[:2] if ok else None
            n += 1
    finally:
        cap.release()
    if not n or shape is None:
        raise ValueError("no decodable frame")
    return n, int(shape[0]), int(shape[1])


class BackgroundVideos:
    """Clips of a folder. `len`, `frames(window, count, out_hw)`, `sample(rng, count, out_hw)`;
    also a TextureSource (`get(i)`: the middle frame of clip i) for a static background."""

    def __init__(self, root: str | os.PathLike, *,
                 cache_dir: str | os.PathLike | None = None) -> None:
        self.root = Path(root)
        index, _ = load_or_build_index(self.root, suffixes=VIDEO_SUFFIXES + IMAGE_SUFFIXES,
                                       name="videos.idx", cache_dir=cache_dir)
        self.fingerprint = index.fingerprint
        self.clips, bad = self._probe_cached(index.paths(), cache_dir)
        for rel, reason in bad:
            warn(f"{self.root / rel}: unreadable video skipped ({reason})")
        if not self.clips:
            raise ValueError(f"{self.root}: no readable videos ({', '.join(VIDEO_SUFFIXES)}) "
                             f"or frame folders (>= {MIN_FRAMES} images)")
        self._by_folder = _group_frames(index.paths())

    def _probe_cached(self, paths: list[str], cache_dir) -> tuple[list[Clip], list]:
        cache = index_cache_path(self.root, "videos-probe.json", cache_dir)
        try:
            saved = json.loads(cache.read_text())
            if saved["version"] == PROBE_VERSION and saved["fingerprint"] == self.fingerprint:
                return [Clip(**c) for c in saved["clips"]], saved["bad"]
        except (OSError, ValueError, KeyError, TypeError):
            pass
        clips, bad = _probe_all(self.root, paths)
        record = {"version": PROBE_VERSION, "fingerprint": self.fingerprint,
                  "clips": [asdict(c) for c in clips], "bad": bad}
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(f"{cache.name}.{os.getpid()}.part")
            tmp.write_text(json.dumps(record))
            os.replace(tmp, cache)
        except OSError:
            pass
        return clips, bad

    def __len__(self) -> int:
        return len(self.clips)

    @staticmethod
    def window_from_dict(d: dict) -> VideoWindow:
        """The window a scene record stores (`VideoWindow.to_dict()`)."""
        return VideoWindow.from_dict(d)

    def sample(self, rng: np.random.Generator, count: int,
               out_hw: tuple[int, int]) -> VideoWindow:
        i = int(rng.integers(len(self)))
        return sample_window(rng, i, self.clips[i], count, out_hw)

    def frames(self, win: VideoWindow, count: int, out_hw: tuple[int, int]) -> np.ndarray:
        """(count, H, W, 3) uint8 frames of the window (a pure function of `win` and the files)."""
        clip = self.clips[win.clip]
        raw = self._read(clip, win.start + count - 1)
        if not raw:
            raise ValueError(f"{self.root / clip.path}: no frame could be read")
        order = pingpong(len(raw), min(win.start, len(raw) - 1), count)
        return np.stack([crop_resize(raw[k], win, out_hw) for k in order])

    def _read(self, clip: Clip, last: int) -> list[np.ndarray]:
        if clip.kind == "video":
            return read_video(self.root / clip.path, min(last, clip.frames - 1))
        frames = []
        for name in self._by_folder[clip.path][: last + 1]:
            try:
                frames.append(read_frame_file(self.root / name))
            except (OSError, ValueError) as err:  # the clip ends at its first unreadable frame
                warn(f"{self.root / name}: unreadable frame, clip cut here ({err})")
                break
        return frames

    def get(self, i: int) -> np.ndarray:
        clip = self.clips[i]
        mid = clip.frames // 2
        raw = self._read(clip, mid)
        return np.ascontiguousarray(raw[min(mid, len(raw) - 1)])

    def describe(self) -> dict:
        return {"kind": "videos", "root": str(self.root), "count": len(self),
                "fingerprint": self.fingerprint,
                "frames": int(sum(c.frames for c in self.clips))}


def _group_frames(paths: list[str]) -> dict[str, list[str]]:
    """Image files by their folder ("." for the root), in name order."""
    groups: dict[str, list[str]] = {}
    for p in paths:
        if p.lower().endswith(IMAGE_SUFFIXES):
            groups.setdefault(p.rsplit("/", 1)[0] if "/" in p else ".", []).append(p)
    return groups


def _probe_all(root: Path, paths: list[str]) -> tuple[list[Clip], list[tuple[str, str]]]:
    clips, bad = [], []
    for rel in paths:
        if rel.lower().endswith(VIDEO_SUFFIXES):
            try:
                clips.append(Clip(rel, "video", *probe_video(root / rel)))
            except (OSError, ValueError) as err:
                bad.append((rel, str(err)))
    for folder, names in sorted(_group_frames(paths).items()):
        if len(names) >= MIN_FRAMES:
            try:
                h, w = read_frame_file(root / names[0]).shape[:2]
                clips.append(Clip(folder, "frames", len(names), h, w))
            except (OSError, ValueError) as err:
                bad.append((names[0], str(err)))
    return clips, bad
