"""Colour-wheel visualisation of optical flow (the Middlebury / Baker et al. colour coding).

Hue gives the direction of (u, v) (u along the width, v along the height, image coordinates, so
v > 0 points down), saturation the magnitude relative to `max_mag`; zero flow is white.
"""

from __future__ import annotations

import numpy as np

# Colour wheel: numbers of hue steps between red, yellow, green, cyan, blue, magenta (Baker et al.)
_SEGMENTS = ((15, (255, 0, 0), (255, 255, 0)), (6, (255, 255, 0), (0, 255, 0)),
             (4, (0, 255, 0), (0, 255, 255)), (11, (0, 255, 255), (0, 0, 255)),
             (13, (0, 0, 255), (255, 0, 255)), (6, (255, 0, 255), (255, 0, 0)))


def colour_wheel() -> np.ndarray:
    """(55, 3) float64 RGB in [0, 1]: the wheel's colours, evenly spaced in angle."""
    parts = []
    for steps, start, end in _SEGMENTS:
        frac = np.arange(steps)[:, None] / steps
        parts.append((1 - frac) * np.array(start) + frac * np.array(end))
    return np.clip(np.concatenate(parts) / 255.0, 0.0, 1.0)


def flow_to_rgb(flow: np.ndarray, max_mag: float | None = None) -> np.ndarray:
    """Flow (..., H, W, 2) pixels -> RGB (..., H, W, 3) uint8.

    `max_mag` (pixels) maps to full saturation; by default the largest magnitude in `flow`, so
    pass one value for a whole sequence to keep frames comparable.
    """
    flow = np.asarray(flow, np.float64)
    u, v = flow[..., 0], flow[..., 1]
    mag = np.hypot(u, v)
    scale = float(max_mag) if max_mag else float(mag.max(initial=0.0))
    radius = np.clip(mag / scale, 0.0, 1.0) if scale > 0 else np.zeros_like(mag)
    wheel = colour_wheel()
    pos = (np.arctan2(-v, -u) / np.pi + 1.0) / 2.0 * len(wheel)  # in [0, len]
    lo = np.floor(pos).astype(int) % len(wheel)
    hi = (lo + 1) % len(wheel)
    frac = (pos - np.floor(pos))[..., None]
    colour = (1 - frac) * wheel[lo] + frac * wheel[hi]
    colour = 1.0 - radius[..., None] * (1.0 - colour)
    return np.rint(colour * 255).astype(np.uint8)
