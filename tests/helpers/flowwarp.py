"""Shared pieces of the exact-flow tests: bilinear sampling and the pixels whose +1 flow lands on
the same layer (so that warping and forward/backward checks compare like with like).

On the test path through pytest's `pythonpath` setting: `from flowwarp import bilinear`.
"""

from __future__ import annotations

import numpy as np


def bilinear(img: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """img (H, W) or (H, W, C) sampled at float points x, y (N,) -> (N,) or (N, C); the caller
    keeps x in [0, W - 1) and y in [0, H - 1)."""
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    if img.ndim == 3:
        fx, fy = fx[:, None], fy[:, None]
    top = img[y0, x0] * (1 - fx) + img[y0, x0 + 1] * fx
    bot = img[y0 + 1, x0] * (1 - fx) + img[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bot * fy


def stays_on_layer(flow: np.ndarray, ids: np.ndarray, t: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixels of frame t whose +1 flow (flow (T, 2, H, W, 2), gap 0 = +1) lands where all four
    neighbours at t + 1 carry the same layer id as at t (ids (T, H, W)): (H, W) bool mask and the
    (N,) float64 target x, y of those pixels."""
    h, w = ids.shape[1:]
    yy, xx = np.mgrid[0:h, 0:w]
    x2, y2 = xx + flow[t, 0, ..., 0], yy + flow[t, 0, ..., 1]
    keep = (x2 >= 0) & (y2 >= 0) & (x2 < w - 1) & (y2 < h - 1)
    x0 = np.clip(np.floor(x2).astype(int), 0, w - 2)
    y0 = np.clip(np.floor(y2).astype(int), 0, h - 2)
    for dy in (0, 1):
        for dx in (0, 1):
            keep &= ids[t + 1][y0 + dy, x0 + dx] == ids[t]
    return keep, x2[keep].astype(np.float64), y2[keep].astype(np.float64)
