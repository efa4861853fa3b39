"""The interface every flow estimator implements, and the one place clips become frame pairs.

An estimator only has to turn frame pairs into flow (`estimate_pairs`); how a clip (T frames) maps
to pairs and back to the (T, 2, H, W, 2) layout of `layersynth.render.sequence` is written once,
here:

- gap index 0 = +1: flow from frame t to frame t+1; gap index 1 = -1: flow from t to t-1;
  last axis (u, v) in pixels, u along W (right), v along H (down).
- The stored clip has no frame after T-1 nor before 0, so, as in the paper (REFERENCE.md section 2),
  the missing flow at an end is the negated opposite-direction flow at that frame:
  flow[T-1, 0] = -flow[T-1, 1] and flow[0, 1] = -flow[0, 0]. Inline estimation during
  `generate` and the later `layersynth flow` pass both see only the stored frames, so they give
  the same arrays.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

MIN_FRAMES = 2  # a clip needs one pair for either gap
_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")
DEVICES = "cpu, cuda or cuda:N"


def parse_device(text: str) -> str:
    """A device name the estimators accept ("cpu", "cuda", "cuda:N"); ValueError otherwise.

    DIS runs on the CPU whatever the device, but an unknown name is refused for it too: a typo
    ("cdua") should not pass unnoticed until the same command runs with RAFT.
    """
    if not _DEVICE.match(text):
        raise ValueError(f"unknown device; use {DEVICES}")
    return text


class FlowEstimator(ABC):
    """Estimates optical flow; subclasses implement `estimate_pairs` and set `name`."""

    name: str = ""

    @abstractmethod
    def estimate_pairs(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Flow from each `src` frame to its `dst` frame.

        src, dst: (N, H, W, 3) uint8 RGB. Returns (N, H, W, 2) float32, (u, v) in pixels such that
        the content at x in src[n] is at x + flow[n, x] in dst[n].
        """

    def estimate(self, rgb: np.ndarray) -> np.ndarray:
        """Both gaps of one clip: rgb (T, H, W, 3) uint8, T >= 2 -> (T, 2, H, W, 2) float32."""
        return self.estimate_many([rgb])[0]

    def estimate_many(self, clips: Sequence[np.ndarray]) -> list[np.ndarray]:
        """`estimate` for several clips of one size, as one stream of pairs (batches span clips)."""
        pairs = [clip_pairs(check_clip(rgb)) for rgb in clips]
        if not pairs:
            return []
        src = np.concatenate([p[0] for p in pairs])
        dst = np.concatenate([p[1] for p in pairs])
        flows = self.estimate_pairs(src, dst)
        bounds = np.cumsum([0] + [len(p[0]) for p in pairs])
        spans = zip(bounds[:-1], bounds[1:], clips, strict=True)
        return [assemble(flows[a:b], len(rgb)) for a, b, rgb in spans]


def check_clip(rgb: np.ndarray) -> np.ndarray:
    """Return `rgb` if it is a (T, H, W, 3) uint8 clip with T >= 2, else raise ValueError."""
    if rgb.dtype != np.uint8 or rgb.ndim != 4 or rgb.shape[-1] != 3 or len(rgb) < MIN_FRAMES:
        raise ValueError(f"expected a (T>=2, H, W, 3) uint8 clip, got {rgb.dtype} {rgb.shape}")
    return rgb


def clip_pairs(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 2 (T - 1) pairs of a clip: forward (t, t+1) for t < T-1, then backward (t, t-1), t > 0.

    rgb (T, H, W, 3) -> src, dst, each (2 (T - 1), H, W, 3).
    """
    src = np.concatenate([rgb[:-1], rgb[1:]])
    dst = np.concatenate([rgb[1:], rgb[:-1]])
    return src, dst


def assemble(flows: np.ndarray, t: int) -> np.ndarray:
    """Inverse of `clip_pairs`: (2 (T - 1), H, W, 2) pair flows -> (T, 2, H, W, 2), ends filled."""
    out = np.empty((t, 2, *flows.shape[1:]), np.float32)
    out[:-1, 0] = flows[: t - 1]
    out[1:, 1] = flows[t - 1 :]
    out[-1, 0] = -out[-1, 1]
    out[0, 1] = -out[0, 0]
    return out
