"""The interface every flow estimator implements, and the one place clips become frame pairs.

An estimator only has to turn frame pairs into flow (`estimate_pairs`); how a clip (T frames) maps
to pairs and back to the (T, 2 len(gaps), H, W, 2) layout of `layersynth.render.sequence` is
written once, here:

- gaps (g0, g1, ...), default (1,): gap index 2i = +gaps[i], flow from frame t to t + gaps[i];
  2i + 1 = -gaps[i], flow from t to t - gaps[i] (with gaps (1,): 0 = +1, 1 = -1); last axis
  (u, v) in pixels, u along W (right), v along H (down).
- The stored clip has no frame after T-1 nor before 0, so, as in the paper (REFERENCE.md section 2),
  the missing flow at an end is the negated opposite-direction flow of the same gap at that frame:
  for gap g, flow[t, +g] = -flow[t, -g] for t > T-1-g and flow[t, -g] = -flow[t, +g] for t < g
  (gap 1: flow[T-1, 0] = -flow[T-1, 1] and flow[0, 1] = -flow[0, 0]). Every frame then needs a
  frame g before or after it: T >= 2 g (`min_frames`). Inline estimation during `generate` and the
  later `layersynth flow` pass both see only the stored frames, so they give the same arrays.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from layersynth.store.gaps import DEFAULT_GAPS, check_gaps

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

    def estimate(self, rgb: np.ndarray, gaps: tuple[int, ...] = DEFAULT_GAPS) -> np.ndarray:
        """Every gap of one clip: rgb (T, H, W, 3) uint8, T >= min_frames(gaps) ->
        (T, 2 len(gaps), H, W, 2) float32."""
        return self.estimate_many([rgb], gaps)[0]

    def estimate_many(self, clips: Sequence[np.ndarray],
                      gaps: tuple[int, ...] = DEFAULT_GAPS) -> list[np.ndarray]:
        """`estimate` for several clips of one size, as one stream of pairs (batches span clips)."""
        gaps = check_gaps(gaps)
        pairs = [clip_pairs(check_clip(rgb, gaps), gaps) for rgb in clips]
        if not pairs:
            return []
        src = np.concatenate([p[0] for p in pairs])
        dst = np.concatenate([p[1] for p in pairs])
        flows = self.estimate_pairs(src, dst)
        bounds = np.cumsum([0] + [len(p[0]) for p in pairs])
        spans = zip(bounds[:-1], bounds[1:], clips, strict=True)
        return [assemble(flows[a:b], len(rgb), gaps) for a, b, rgb in spans]


def min_frames(gaps: tuple[int, ...] = DEFAULT_GAPS) -> int:
    """Frames a clip needs for flow at `gaps`: every frame t needs t + g or t - g in the clip."""
    return max(MIN_FRAMES, 2 * max(gaps))


def n_pairs(t: int, gaps: tuple[int, ...] = DEFAULT_GAPS) -> int:
    """Frame pairs of a clip of t frames at `gaps`: 2 (t - g) for each gap g."""
    return sum(2 * (t - g) for g in gaps)


def check_clip(rgb: np.ndarray, gaps: tuple[int, ...] = DEFAULT_GAPS) -> np.ndarray:
    """Return `rgb` if it is a (T, H, W, 3) uint8 clip with T >= min_frames(gaps), else raise
    ValueError."""
    least = min_frames(gaps)
    if rgb.dtype != np.uint8 or rgb.ndim != 4 or rgb.shape[-1] != 3 or len(rgb) < least:
        raise ValueError(f"expected a (T>={least}, H, W, 3) uint8 clip for gaps {list(gaps)}, "
                         f"got {rgb.dtype} {rgb.shape}")
    return rgb


def clip_pairs(rgb: np.ndarray, gaps: tuple[int, ...] = DEFAULT_GAPS
               ) -> tuple[np.ndarray, np.ndarray]:
    """The pairs of a clip, gap by gap: for each g, forward (t, t+g) for t < T-g, then backward
    (t, t-g) for t >= g (gaps (1,): the 2 (T - 1) pairs (t, t+1), then (t, t-1)).

    rgb (T, H, W, 3) -> src, dst, each (n_pairs(T, gaps), H, W, 3).
    """
    src = np.concatenate([part for g in gaps for part in (rgb[:-g], rgb[g:])])
    dst = np.concatenate([part for g in gaps for part in (rgb[g:], rgb[:-g])])
    return src, dst


def assemble(flows: np.ndarray, t: int, gaps: tuple[int, ...] = DEFAULT_GAPS) -> np.ndarray:
    """Inverse of `clip_pairs`: (n_pairs(T, gaps), H, W, 2) pair flows ->
    (T, 2 len(gaps), H, W, 2), the ends filled from the opposite direction of the same gap."""
    out = np.empty((t, 2 * len(gaps), *flows.shape[1:]), np.float32)
    at = 0
    for i, g in enumerate(gaps):
        fwd, bwd = 2 * i, 2 * i + 1
        out[:-g, fwd] = flows[at : at + t - g]
        out[g:, bwd] = flows[at + t - g : at + 2 * (t - g)]
        at += 2 * (t - g)
        out[t - g :, fwd] = -out[t - g :, bwd]
        out[:g, bwd] = -out[:g, fwd]
    return out
