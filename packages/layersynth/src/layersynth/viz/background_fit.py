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

from dataclasses import dataclass

import cv2
import numpy as np

SAMPLE = 1024  # background pixels per fit: plenty for 8 parameters, and ~1 ms per frame
MIN_POINTS = 16  # fewer background pixels than this: no fit (the frame is almost all object)
RANSAC_PX = 0.1  # inlier distance: 13x the flow quantisation (1/128 px), a third of PARALLAX_PX


@dataclass(frozen=True)
class BackgroundFit:
    """The fit of each frame. predicted (T, H, W, 2) float32: the background flow the frame's
    homography predicts at every pixel; error (T, H, W) float32: |flow - predicted| px;
    residual (T,) float64: mean error over the frame's background pixels, NaN without a fit."""

    predicted: np.ndarray
    error: np.ndarray
    residual: np.ndarray


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


def homography_flow(h: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W, 2) float32 flow of homography `h` (3, 3) at the pixel centres (x, y)."""
    xs = np.arange(width, dtype=np.float64)[None, :]
    ys = np.arange(height, dtype=np.float64)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        den = h[2, 0] * xs + h[2, 1] * ys + h[2, 2]
        u = (h[0, 0] * xs + h[0, 1] * ys + h[0, 2]) / den - xs
        v = (h[1, 0] * xs + h[1, 1] * ys + h[1, 2]) / den - ys
    return np.stack([u, v], axis=-1).astype(np.float32)


def fit_background(flow: np.ndarray, background: np.ndarray) -> BackgroundFit:
    """One homography per frame fitted to flow (T, H, W, 2) float px on background (T, H, W)
    bool (modal 0 and no occluder). Where no fit exists the prediction is the frame's median
    background flow (zero without background pixels) and the residual NaN."""
    t, h, w, _ = flow.shape
    predicted = np.zeros((t, h, w, 2), np.float32)
    fitted = np.zeros(t, bool)
    for i in range(t):
        hom = fit_homography(flow[i], background[i])
        fitted[i] = hom is not None
        if fitted[i]:
            predicted[i] = homography_flow(hom, h, w)
        elif background[i].any():
            predicted[i] = np.median(flow[i][background[i]], axis=0)
    diff = flow - predicted
    error = np.hypot(diff[..., 0], diff[..., 1])
    with np.errstate(invalid="ignore"):
        residual = (np.where(background, error, 0).sum(axis=(1, 2), dtype=np.float64)
                    / background.sum(axis=(1, 2)))
    return BackgroundFit(predicted, error, np.where(fitted, residual, np.nan))
