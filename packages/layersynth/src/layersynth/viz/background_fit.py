"""One homography fitted to the background's flow of a frame, and what it leaves unexplained.

A background that is one plane under a camera homography has a flow field that is exactly one
homography, x -> H x, at every background pixel; parallax (several depth planes) leaves a residual
that no single homography removes. `fit_background` fits one per frame (RANSAC over an evenly
spaced subsample of background pixels, so the dominant plane wins and the others show as
residual) and returns the flow it predicts at every pixel plus the frame's mean |residual| over
all background pixels.

Coordinates: pixel (row y, column x) has centre (x, y); flow (u, v) moves it to (x + u, y + v).
"""

from __future__ import annotations

import cv2
import numpy as np

SAMPLE = 1024  # background pixels per fit: plenty for 8 parameters, and ~1 ms per frame
MIN_POINTS = 16  # fewer background pixels than this: no fit (the frame is almost all object)
RANSAC_PX = 0.1  # inlier distance: 13x the flow quantisation (1/128 px), a third of PARALLAX_PX


def pixel_grid(h: int, w: int) -> np.ndarray:
    """(H, W, 2) float64 pixel centres (x, y)."""
    ys, xs = np.mgrid[0:h, 0:w]
    return np.stack([xs, ys], axis=-1).astype(np.float64)


def fit_homography(flow: np.ndarray, background: np.ndarray) -> np.ndarray | None:
    """(3, 3) homography mapping pixel x to x + flow(x) on `background` pixels, or None.

    flow (H, W, 2) float (u, v) px; background (H, W) bool. None when fewer than MIN_POINTS
    background pixels exist or OpenCV finds no model (degenerate point sets)."""
    ys, xs = np.nonzero(background)
    if len(ys) < MIN_POINTS:
        return None
    pick = np.linspace(0, len(ys) - 1, min(SAMPLE, len(ys))).astype(np.int64)
    src = np.stack([xs[pick], ys[pick]], axis=-1).astype(np.float32)
    dst = src + flow[ys[pick], xs[pick]].astype(np.float32)
    h, _ = cv2.findHomography(src, dst, cv2.RANSAC, RANSAC_PX, maxIters=2000, confidence=0.995)
    return None if h is None or not np.all(np.isfinite(h)) else h


def homography_flow(h: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """(H, W, 2) flow of homography `h` (3, 3) at the pixel centres `grid` (H, W, 2)."""
    mapped = grid @ h[:, :2].T + h[:, 2]  # (H, W, 3) homogeneous images of the pixel centres
    with np.errstate(divide="ignore", invalid="ignore"):
        return mapped[..., :2] / mapped[..., 2:] - grid


def fit_background(flow: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: the background flow one homography predicts, and its mean |residual|.

    flow (T, H, W, 2) float px; background (T, H, W) bool (modal 0 and no occluder).
    Returns predicted (T, H, W, 2) float64 and residual (T,) float64 px: the mean over the
    frame's background pixels of |flow - predicted|, NaN for a frame with no fit. Where no fit
    exists the prediction is the median background flow (zero without background pixels)."""
    t, h, w, _ = flow.shape
    grid = pixel_grid(h, w)
    predicted = np.zeros((t, h, w, 2))
    residual = np.full(t, np.nan)
    for i in range(t):
        hom = fit_homography(flow[i], background[i])
        if hom is None:
            if background[i].any():
                predicted[i] = np.median(flow[i][background[i]], axis=0)
            continue
        predicted[i] = homography_flow(hom, grid)
        error = np.linalg.norm(flow[i][background[i]] - predicted[i][background[i]], axis=-1)
        residual[i] = float(error.mean())
    return predicted, residual
