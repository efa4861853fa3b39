"""Reading the frames of a real video (a folder of images or a video file) and writing videos.

Frames are streamed, never all held at once, so a video of any length fits in memory:
`FrameSource.iter()` yields (name, rgb (H, W, 3) uint8) in order, as often as needed (a video file
is decoded again on each pass). Frame names are the image file stems for a folder (sorted by name,
as DAVIS-style folders number them) and zero-padded indices "00000", ... for a video file.

Writing: `open_writer(path, fps)` gives an MP4 through imageio-ffmpeg (H.264), else OpenCV's
MPEG-4 encoder; where neither works, a GIF beside the requested path (Pillow). Bad input raises
`MediaError` (a ValueError) whose message names the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

try:  # optional: without it, videos are written by OpenCV (or as a GIF)
    import imageio_ffmpeg
except ImportError:
    imageio_ffmpeg = None

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")
GIF_MAX_WIDTH = 480  # a GIF holds every frame in memory until it is saved: keep them small


class MediaError(ValueError):
    """A frame folder or video file that cannot be read; the message names the path."""


@dataclass(frozen=True)
class FrameSource:
    """The frames of one video: a folder of images (kind "folder") or a video file ("video")."""

    path: Path
    kind: str
    names: tuple[str, ...]
    height: int
    width: int
    fps: float

    def __len__(self) -> int:
        return len(self.names)

    def iter(self) -> Iterator[tuple[str, np.ndarray]]:
        """Yield (name, rgb (H, W, 3) uint8) for every frame, in order."""
        frames = _iter_folder(self) if self.kind == "folder" else _iter_video(self.path)
        for name, rgb in zip(self.names, frames, strict=False):
            if rgb.shape != (self.height, self.width, 3):
                raise MediaError(f"{self.path}: frame {name} is {rgb.shape[1]}x{rgb.shape[0]}, "
                                 f"the first frame is {self.width}x{self.height}")
            yield name, rgb

    def read_all(self) -> np.ndarray:
        """(T, H, W, 3) uint8: every frame at once (for short clips and tests)."""
        return np.stack([rgb for _, rgb in self.iter()])

    def signature(self) -> list:
        """What identifies the content cheaply (names, sizes, modification times): a cache key."""
        files = self.files() if self.kind == "folder" else [self.path]
        return [[f.name, (st := os.stat(f)).st_size, st.st_mtime_ns] for f in files]

    def files(self) -> list[Path]:
        """The image files of a folder source, in frame order ([] for a video file)."""
        if self.kind != "folder":
            return []
        return [p for p in sorted(self.path.iterdir()) if p.suffix.lower() in FRAME_SUFFIXES]


def open_frames(folder: str | os.PathLike, fps: float = 24.0) -> FrameSource:
    """A folder of .jpg/.jpeg/.png frames, ordered by file name; all must share one size."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MediaError(f"{folder}: not a directory of frames")
    files = [p for p in sorted(folder.iterdir()) if p.suffix.lower() in FRAME_SUFFIXES]
    if not files:
        raise MediaError(f"{folder}: no .jpg/.jpeg/.png frames in it")
    stems = [p.stem for p in files]
    if len(set(stems)) != len(stems):
        raise MediaError(f"{folder}: two frames share a name with different extensions")
    h, w = read_image(files[0]).shape[:2]
    return FrameSource(folder, "folder", tuple(stems), h, w, fps)


def open_video(file: str | os.PathLike) -> FrameSource:
    """A video file readable by OpenCV (MP4, AVI, MOV, ...); frames are counted by decoding once."""
    import cv2  # only for video files: `oclr-infer` imports this module at start-up

    file = Path(file)
    if not file.is_file():
        raise MediaError(f"{file}: no such video file")
    cap = cv2.VideoCapture(str(file))
    try:
        fps = cap.get(cv2.CAP_PROP_FPS) or 24.0
        n, shape = 0, None
        while cap.grab():
            if shape is None:
                shape = cap.retrieve()[1].shape
            n += 1
    finally:
        cap.release()
    if n == 0 or shape is None:
        raise MediaError(f"{file}: not a readable video (no frame could be decoded)")
    return FrameSource(file, "video", tuple(f"{i:05d}" for i in range(n)), shape[0], shape[1], fps)


def open_source(frames: str | None, video: str | None) -> FrameSource:
    """Exactly one of a frame folder or a video file."""
    if (frames is None) == (video is None):
        raise MediaError("give exactly one of a frame folder or a video file")
    return open_frames(frames) if frames is not None else open_video(video)


def read_image(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB of one image file."""
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (OSError, UnidentifiedImageError) as err:
        raise MediaError(f"{path}: not a readable image ({err})") from None


def _iter_folder(source: FrameSource) -> Iterator[np.ndarray]:
    for path in source.files():
        yield read_image(path)


def _iter_video(file: Path) -> Iterator[np.ndarray]:
    import cv2  # only for video files: `oclr-infer` imports this module at start-up

    cap = cv2.VideoCapture(str(file))
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                return
            yield bgr[..., ::-1].copy()
    finally:
        cap.release()


def overlay(
    rgb: np.ndarray, labels: np.ndarray, palette: np.ndarray, alpha: float = 0.5
) -> np.ndarray:
    """Blend label colours over a frame: rgb (H, W, 3) uint8, labels (H, W) ints indexing
    palette (N, 3) uint8; label 0 (background) is left as is. Returns (H, W, 3) uint8."""
    colours = np.asarray(palette, dtype=np.float32)[labels]
    mixed = (1 - alpha) * rgb.astype(np.float32) + alpha * colours
    out = np.where((labels > 0)[..., None], mixed, rgb.astype(np.float32))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


class VideoWriter:
    """Append (H, W, 3) uint8 RGB frames; `path` is the file actually written (.mp4 or .gif)."""

    def __init__(self, path: Path, fps: float, backend: str) -> None:
        self.path, self.fps, self.backend = path, fps, backend
        self._impl = None
        self._gif: list = []

    def append(self, rgb: np.ndarray) -> None:
        h, w = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2  # H.264 with yuv420p needs even sizes
        if self.backend == "gif":
            self._gif.append(_gif_frame(rgb))
            return
        if self._impl is None:
            self._impl = _start(self.backend, self.path, self.fps, w, h)
        frame = np.ascontiguousarray(rgb[:h, :w])
        if self.backend == "ffmpeg":
            self._impl.send(frame)
        else:
            self._impl.write(frame[..., ::-1].copy())

    def close(self) -> None:
        if self.backend == "gif":
            _save_gif(self.path, self._gif, self.fps)
        elif self.backend == "ffmpeg" and self._impl is not None:
            self._impl.close()
        elif self._impl is not None:
            self._impl.release()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_writer(path: str | os.PathLike, fps: float, backend: str | None = None) -> VideoWriter:
    """A writer for an MP4 at `path`; backend None picks the first that works of "ffmpeg"
    (imageio-ffmpeg), "cv2" (OpenCV mp4v), "gif" (Pillow, written to path with suffix .gif)."""
    path = Path(path)
    for name in [backend] if backend else ["ffmpeg", "cv2", "gif"]:
        if name == "gif":
            return VideoWriter(path.with_suffix(".gif"), fps, "gif")
        if _backend_works(name, path):
            return VideoWriter(path, fps, name)
    raise MediaError(f"{path}: the {backend} video encoder is not available")


def _backend_works(name: str, path: Path) -> bool:
    probe = path.with_name(f".probe-{os.getpid()}{path.suffix}")
    try:
        impl = _start(name, probe, 1.0, 16, 16)
        if name == "ffmpeg":
            impl.send(np.zeros((16, 16, 3), np.uint8))
            impl.close()
        else:
            impl.write(np.zeros((16, 16, 3), np.uint8))
            impl.release()
        return probe.is_file() and probe.stat().st_size > 0
    except Exception:  # noqa: BLE001 - any failure of an optional encoder means "try the next one"
        return False
    finally:
        probe.unlink(missing_ok=True)


def _start(name: str, path: Path, fps: float, w: int, h: int):
    if name == "ffmpeg":
        if imageio_ffmpeg is None:
            raise MediaError(f"{path}: imageio-ffmpeg is not installed")
        gen = imageio_ffmpeg.write_frames(str(path), (w, h), fps=fps, codec="libx264",
                                          pix_fmt_out="yuv420p", macro_block_size=1,
                                          output_params=["-loglevel", "error"])
        gen.send(None)
        return gen
    if name == "cv2":
        import cv2  # only for writing videos: `oclr-infer` imports this module at start-up

        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        if not writer.isOpened():
            raise MediaError(f"{path}: OpenCV cannot open an MPEG-4 writer")
        return writer
    raise ValueError(f"unknown video backend {name!r}")


def _gif_frame(rgb: np.ndarray):
    img = Image.fromarray(rgb)
    if img.width > GIF_MAX_WIDTH:
        img = img.resize((GIF_MAX_WIDTH, round(img.height * GIF_MAX_WIDTH / img.width)))
    return img


def _save_gif(path: Path, frames: list, fps: float) -> None:
    if frames:
        frames[0].save(path, save_all=True, append_images=frames[1:], loop=0,
                       duration=max(20, round(1000 / fps)))
