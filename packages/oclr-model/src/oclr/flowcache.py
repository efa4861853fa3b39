"""Flow for a real video, estimated once and kept on disk: the network input of every frame.

`flow_input_for(source, spec, cache_dir)` returns (T, 4, h, w) float32 [u+1, v+1, u-1, v-1] at
the model's size h x w (REFERENCE.md section 2): flow is estimated at the frames' own resolution
with `layersynth.estimators` (DIS by default, RAFT from local weights), then resized and scaled by
`oclr.data` (the one place the shard layout becomes the model's), so training and inference see
the same conversion. At the two ends of the video the missing gap is the negated opposite one.

`FlowSpec.flow_width` estimates on smaller frames (faster; the network sees 224-px-wide flow).
Frames are streamed in chunks (`FlowSpec.chunk` frames plus one neighbour each side, so every
kept frame has both gaps), so a long video never holds more than a chunk of full-size flow.

Cache: one `.npy` per (method, weights, model size, frames) in `cache_dir`, named by a hash of
those (frame files' names, sizes and modification times stand for the frames), written atomically;
it holds the already resized input, not full-size flow, because full-size flow of DAVIS val alone
would be ~13 GB, while the input at 128 x 224 is ~0.46 MB a frame. A second run with the same
key reads it back (memory-mapped) instead of estimating again. A damaged cache file (truncated,
garbage) is estimated again with a warning on stderr; a cache folder that cannot be written is
skipped with a warning (the flow is still estimated).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path

import cv2
import numpy as np
import torch
from layersynth.estimators import build_estimator
from layersynth.report import warn

from oclr.data import flow_input, resize_clip
from oclr.video_io import FrameSource, MediaError

CACHE_VERSION = 1


@dataclass(frozen=True)
class FlowSpec:
    """How flow is made: estimator `method` ("dis" | "raft"), RAFT `raft_weights` (a local file)
    and `device`, the model input size `height` x `width`, `chunk` frames per estimator call.

    `flow_width`: estimate on frames shrunk to this width (aspect kept, area averaging) when they
    are wider; None = at the frames' own resolution, as the paper does. The network sees flow at
    `width` anyway, so e.g. 448 (twice the model's) costs DIS a fraction of 854-px frames."""

    method: str = "dis"
    height: int = 128
    width: int = 224
    raft_weights: str | None = None
    device: str = "cpu"
    chunk: int = 32
    flow_width: int | None = None

    def __post_init__(self) -> None:
        if self.chunk < 2:
            raise ValueError(f"chunk must be >= 2 frames, got {self.chunk}")
        if self.flow_width is not None and self.flow_width < 8:
            raise ValueError(f"flow width must be >= 8 px, got {self.flow_width}")


def default_cache_dir() -> Path:
    """$OCLR_FLOW_CACHE, else $XDG_CACHE_HOME/oclr/flow, else ~/.cache/oclr/flow."""
    if os.environ.get("OCLR_FLOW_CACHE"):
        return Path(os.environ["OCLR_FLOW_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "oclr" / "flow"


def cache_key(source: FrameSource, spec: FlowSpec) -> str:
    """Hex digest naming the cached input of `source` made as `spec` says (device excluded)."""
    weights = spec.raft_weights
    weights_id = None
    if spec.method == "raft" and weights and Path(weights).is_file():
        st = Path(weights).stat()
        weights_id = [Path(weights).name, st.st_size, st.st_mtime_ns]
    record = {"version": CACHE_VERSION, "method": spec.method, "weights": weights_id or weights,
              "size": [spec.height, spec.width], "frames": source.signature(),
              **({"flow_width": spec.flow_width} if spec.flow_width else {}),
              "names": list(source.names)}
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:24]


def flow_input_for(source: FrameSource, spec: FlowSpec, cache_dir: str | os.PathLike | None,
                   estimator=None) -> np.ndarray:
    """(T, 4, height, width) float32 network input of every frame of `source`.

    cache_dir None: computed in memory, nothing written. Otherwise read from / written to
    `cache_dir/<key>.npy` (memory-mapped on a hit). `estimator`: an already built
    `layersynth.estimators` estimator (None: built from `spec`, only when a cache misses).
    """
    if len(source) < 2:
        raise MediaError(f"{source.path}: flow needs at least 2 frames, found {len(source)}")
    if cache_dir is None:
        return _compute(source, spec, estimator, np.empty(_shape(source, spec), np.float32))
    path = Path(cache_dir) / f"{cache_key(source, spec)}.npy"
    if path.exists():
        cached = read_cached(path, _shape(source, spec))
        if cached is not None:
            return cached
    try:
        return _compute_to_file(source, spec, estimator, path)
    except CacheUnwritable as err:
        warn(f"{err}; flow is estimated without caching it")
        return _compute(source, spec, estimator, np.empty(_shape(source, spec), np.float32))


class CacheUnwritable(Exception):
    """The cache folder or file cannot be written (the message names it)."""


def read_cached(path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    """The cached input at `path` (memory-mapped), or None, with a warning on stderr, when the
    file is damaged (truncated, garbage, another shape or dtype): it is then estimated again."""
    try:
        cached = np.load(path, mmap_mode="r", allow_pickle=False)
        if cached.shape == shape and cached.dtype == np.float32:
            return cached
        problem = f"holds {cached.dtype} {cached.shape}, not float32 {shape}"
    except (OSError, ValueError, EOFError) as err:
        problem = f"unreadable ({' '.join(str(err).split())[:120] or type(err).__name__})"
    warn(f"flow cache file {path} is damaged: {problem}; estimating the flow again")
    return None


def _shape(source: FrameSource, spec: FlowSpec) -> tuple[int, int, int, int]:
    return (len(source), 4, spec.height, spec.width)


def _compute_to_file(source, spec, estimator, path: Path) -> np.ndarray:
    """Estimate into a temporary memory-mapped file beside `path`, then move it there. A cache
    that cannot be written (read-only, full) -> CacheUnwritable before the estimation, or, after
    it, the estimate in memory with a warning."""
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.npy")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32,
                                        shape=_shape(source, spec))
    except OSError as err:
        raise CacheUnwritable(f"cannot write the flow cache in {path.parent}: "
                              f"{err.strerror or err}") from None
    try:
        _compute(source, spec, estimator, out)
        try:
            out.flush()
            os.replace(tmp, path)
            meta = {"source": str(source.path), "frames": len(source), **asdict(spec)}
            path.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
        except OSError as err:
            warn(f"cannot write the flow cache file {path}: {err.strerror or err}; the flow is "
                 "used without caching it")
            return np.array(out)
    finally:
        tmp.unlink(missing_ok=True)
    return np.load(path, mmap_mode="r")


def _compute(source: FrameSource, spec: FlowSpec, estimator, out: np.ndarray) -> np.ndarray:
    if estimator is None:
        estimator = build_estimator(spec.method, raft_weights=spec.raft_weights, device=spec.device)
    for start, keep, offset, rgb in chunked(source.iter(), spec.chunk):
        rgb = shrink_frames(rgb, spec.flow_width)
        flow = estimator.estimate(rgb)[offset:offset + keep]  # (keep, 2, H', W', 2)
        out[start:start + keep] = to_model_input(flow, spec.height, spec.width)
    return out


def shrink_frames(rgb: np.ndarray, width: int | None) -> np.ndarray:
    """(n, H, W, 3) uint8 frames resized to `width` x round(H * width / W) by area averaging when
    W > width; unchanged otherwise. The flow estimated on them is in the small frames' pixels,
    which `to_model_input` rescales like any other size."""
    h, w = rgb.shape[1:3]
    if width is None or w <= width:
        return rgb
    size = (width, max(1, round(h * width / w)))
    return np.stack([cv2.resize(frame, size, interpolation=cv2.INTER_AREA) for frame in rgb])


def chunked(frames: Iterator[tuple[str, np.ndarray]], chunk: int
            ) -> Iterator[tuple[int, int, int, np.ndarray]]:
    """Cut a stream of (name, rgb) into estimator clips.

    Yields (start, keep, offset, rgb (n, H, W, 3)): the clip holds frames start - offset ..
    start + keep (one neighbour each side where the video has it), and its flow rows offset ..
    offset + keep - 1 belong to frames start .. start + keep - 1. A video's last chunk may
    hold a single kept frame; its clip still has >= 2 frames when the video does.
    """
    stream = (rgb for _, rgb in frames)
    prev = None
    buf = list(islice(stream, chunk + 1))  # `chunk` frames to keep + one look-ahead
    start = 0
    while buf:
        core = buf[:chunk]
        clip = ([prev] if prev is not None else []) + buf
        yield start, len(core), int(prev is not None), np.stack(clip)
        prev, rest = core[-1], buf[chunk:]
        buf = rest + list(islice(stream, chunk + 1 - len(rest)))
        start += len(core)


def to_model_input(flow: np.ndarray, height: int, width: int) -> np.ndarray:
    """(T, 2, H, W, 2) flow in pixels -> (T, 4, height, width) float32 resized, u and v scaled."""
    x = flow_input(torch.from_numpy(np.ascontiguousarray(flow, dtype=np.float32)))
    t = x.shape[0]
    # resize_clip also resizes masks; give it empty placeholders (no object layer, 1 x 1 labels).
    x, _, _ = resize_clip(x, x.new_zeros(t, 0, 1, 1), torch.zeros(t, 1, 1), height, width)
    return x.numpy()
