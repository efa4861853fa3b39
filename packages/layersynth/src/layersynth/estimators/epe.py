"""End-point error of estimated flow against the ground truth, overall and on object boundaries.

Object boundaries are where the modal labels change: a pixel is on a boundary when some pixel
within `width` px of it (a (2 width + 1)-square window) carries another label. Occluders count as
background in the modal labels and move with it, so their edges are not motion boundaries.
"""

from __future__ import annotations

import numpy as np

BOUNDARY_WIDTH = 2


def endpoint_error(est: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean Euclidean distance between `est` and `gt` flow vectors, in pixels.

    est, gt: (..., 2) with the same shape, e.g. (T, G, H, W, 2) (G = 2 len(gaps)). mask: bool,
    broadcastable to est.shape[:-1]; a (T, H, W) mask with (T, G, H, W, 2) flows applies to every
    gap. NaN when the mask selects nothing.
    """
    total, count = endpoint_error_sum(est, gt, mask)
    return total / count if count else float("nan")


def endpoint_error_sum(
    est: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None
) -> tuple[float, int]:
    """(sum of per-pixel end-point errors, number of pixels) over `mask`; see `endpoint_error`."""
    if est.shape != gt.shape or est.shape[-1] != 2:
        raise ValueError(f"flow shapes differ or lack a (u, v) axis: {est.shape} vs {gt.shape}")
    err = np.linalg.norm(est.astype(np.float64) - gt, axis=-1)
    if mask is None:
        return float(err.sum()), err.size
    if mask.ndim == 3 and err.ndim == 4:
        mask = mask[:, None]
    mask = np.broadcast_to(mask, err.shape)
    return float(err[mask].sum()), int(mask.sum())


def boundary_mask(modal: np.ndarray, width: int = BOUNDARY_WIDTH) -> np.ndarray:
    """modal (T, H, W) labels -> (T, H, W) bool, True within `width` px of a label change."""
    # scipy.ndimage takes ~0.3 s to import and `layersynth --help` imports this module
    from scipy.ndimage import maximum_filter, minimum_filter

    size = (1, 2 * width + 1, 2 * width + 1)
    return maximum_filter(modal, size=size, mode="nearest") != minimum_filter(
        modal, size=size, mode="nearest"
    )


class EpeMeter:
    """Accumulates EPE over sequences, pixel-weighted, overall and on object boundaries."""

    def __init__(self, width: int = BOUNDARY_WIDTH) -> None:
        self.width = width
        self.sums = {"all": [0.0, 0], "boundary": [0.0, 0]}

    def add(self, est: np.ndarray, gt: np.ndarray, modal: np.ndarray) -> None:
        """est, gt (T, G, H, W, 2) flow (every stored gap counts alike); modal (T, H, W) labels of
        the same sequence."""
        for key, mask in (("all", None), ("boundary", boundary_mask(modal, self.width))):
            total, count = endpoint_error_sum(est, gt, mask)
            self.sums[key][0] += total
            self.sums[key][1] += count

    def result(self) -> dict[str, float | int]:
        """{"epe", "epe_boundary"} in pixels (NaN if nothing was added) and the pixel counts."""
        (s_all, n_all), (s_b, n_b) = self.sums["all"], self.sums["boundary"]
        return {
            "epe": s_all / n_all if n_all else float("nan"),
            "epe_boundary": s_b / n_b if n_b else float("nan"),
            "pixels": n_all,
            "boundary_pixels": n_b,
        }
