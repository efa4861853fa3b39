"""OpenCV's DIS optical flow (Kroeger et al. 2016): CPU, milliseconds per pair, no weights.

DIS works on grey frames; it sees the same pairs as every estimator (see `base`). It runs on small
frames too, so it needs none of RAFT's upsampling, down to a floor (`check_size`): both sides at
least 8 px (its 8 x 8 patches) and one of them at least 12 px. Measured on OpenCV 4.13 for all
three presets and every size up to 59 x 59; below it `calc` raises a cv2.error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from layersynth.errors import UsageError
from layersynth.estimators.base import FlowEstimator

# OpenCV's preset names; "medium" recovers whole-pixel shifts exactly at 128 x 224 (REFERENCE.md s8)
# and costs ~2 ms a pair, so it is the default.
DIS_PRESETS = ("ultrafast", "fast", "medium")
MIN_SIDE = 8  # px, both sides: the patch size of every preset
MIN_LONG_SIDE = 12  # px, the longer side: OpenCV's "either width or height >= 12"


def check_size(height: int, width: int) -> None:
    """UsageError if DIS cannot estimate flow on frames of height x width pixels."""
    if min(height, width) < MIN_SIDE or max(height, width) < MIN_LONG_SIDE:
        raise UsageError(f"DIS needs frames of at least {MIN_SIDE} px a side with one side of "
                         f"at least {MIN_LONG_SIDE} px; these are {height}x{width} (HxW)")


@dataclass(frozen=True)
class DisConfig:
    preset: str = "medium"

    def __post_init__(self) -> None:
        if self.preset not in DIS_PRESETS:
            raise UsageError(f"unknown DIS preset {self.preset!r}; choose from {DIS_PRESETS}")


class DisEstimator(FlowEstimator):
    """OpenCV DIS with one of its presets; see `FlowEstimator.estimate_pairs` for the contract."""

    name = "dis"

    def __init__(self, cfg: DisConfig) -> None:
        import cv2  # heavy (~0.3 s): only when DIS is built

        self.cfg = cfg
        preset = getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{cfg.preset.upper()}")
        self._dis = cv2.DISOpticalFlow_create(preset)
        self._grey = lambda rgb: cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)

    def estimate_pairs(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        check_size(*src.shape[1:3])
        out = np.empty((*src.shape[:3], 2), np.float32)
        for n, (a, b) in enumerate(zip(src, dst, strict=True)):
            out[n] = self._dis.calc(self._grey(a), self._grey(b), None)
        return out
