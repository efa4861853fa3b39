"""Optical-flow estimators used by both packages: `dis` (OpenCV DIS, CPU) and `raft` (ptlflow).

    est = build_estimator("raft", raft_weights="raft-things.ckpt", device="cuda", batch=32)
    flow = est.estimate(rgb)          # rgb (T, H, W, 3) uint8 -> (T, 2, H, W, 2) float32
    flow = est.estimate(rgb, (1, 2))  # -> (T, 4, H, W, 2): +1, -1, +2, -2

Output conventions are those of `layersynth.render.sequence` (gap index 2i = +gaps[i], 2i + 1 =
-gaps[i]: with gaps (1,), 0 = +1 and 1 = -1; (u, v) in pixels); the clip ends follow the paper's
rule, gap by gap (see `base`). Importing this package loads
neither torch, ptlflow nor OpenCV: each loads when its estimator is built.

- `base`: the FlowEstimator interface and the one place clips become frame pairs.
- `dis`, `raft`: the two estimators; `epe`: end-point error against the ground truth.
- `inplace`: adds estimated flow to the shards of an existing dataset (`layersynth flow`).
"""

from __future__ import annotations

from layersynth.errors import UsageError
from layersynth.estimators import dis
from layersynth.estimators.base import (
    DEVICES,
    MIN_FRAMES,
    FlowEstimator,
    assemble,
    clip_pairs,
    min_frames,
    n_pairs,
    parse_device,
)
from layersynth.estimators.dis import DisConfig, DisEstimator
from layersynth.estimators.epe import EpeMeter, boundary_mask, endpoint_error
from layersynth.estimators.raft import PAPER_ITERS, RaftConfig, RaftEstimator, load_raft

METHODS = ("dis", "raft")


def build_estimator(
    method: str,
    *,
    raft_weights: str | None = None,
    device: str = "cpu",
    batch: int = 8,
    iters: int | None = None,
    precision: str = "auto",
) -> FlowEstimator:
    """The estimator called `method`; UsageError for an unknown method or a bad option.

    raft: `raft_weights` a local checkpoint (None: the "things" checkpoint in the torch cache),
    `iters` refinement iterations (None: 20, the paper's), `batch` pairs per forward pass,
    `device` "cpu" | "cuda" | "cuda:N", `precision` CUDA autocast ("auto", "bf16", "fp16", "fp32").
    dis: OpenCV DIS "medium" preset, always on the CPU; the RAFT options are ignored.
    """
    if method == "dis":
        return DisEstimator(DisConfig())
    if method == "raft":
        iters = PAPER_ITERS if iters is None else iters
        cfg = RaftConfig(raft_weights, device, batch, iters, precision)
        return RaftEstimator(load_raft(cfg), cfg)
    raise UsageError(f"unknown flow method {method!r}; choose from {', '.join(METHODS)}")


def check_clip_size(method: str, frames: int, height: int, width: int,
                    gaps: tuple[int, ...] = (1,)) -> None:
    """UsageError if `method` cannot estimate flow at `gaps` on clips of frames x height x
    width, so a command can refuse before it loads an estimator or renders anything."""
    if frames < MIN_FRAMES:
        raise UsageError(f"{method} flow needs at least {MIN_FRAMES} frames a sequence, got "
                         f"T={frames}")
    if frames < min_frames(gaps):
        raise UsageError(f"{method} flow at gap {max(gaps)} needs at least {min_frames(gaps)} "
                         f"frames a sequence (each frame needs a frame {max(gaps)} before or "
                         f"after it), got T={frames}")
    if method == "dis":
        dis.check_size(height, width)


__all__ = [
    "DEVICES",
    "METHODS",
    "EpeMeter",
    "FlowEstimator",
    "assemble",
    "boundary_mask",
    "build_estimator",
    "check_clip_size",
    "clip_pairs",
    "endpoint_error",
    "min_frames",
    "n_pairs",
    "parse_device",
]
