"""Layer composition (eq. (2) of the paper) and the occlusion statistic built on it."""

from __future__ import annotations

import numpy as np


def modal_from_amodal(amodal: np.ndarray, occluder: np.ndarray | None = None) -> np.ndarray:
    """Front-to-back binary blending: amodal (K, T, H, W) bool, layer 0 front-most, and an optional
    occluder (T, H, W) bool on top -> modal labels (T, H, W) uint8 (0 background, k + 1 layer k).

    M_k = (1 - alpha_k) * A_k with alpha_k = clip(alpha_{k-1} + M_{k-1}, 0, 1), alpha_0 = occluder.
    """
    k, t, h, w = amodal.shape
    alpha = np.zeros((t, h, w), bool) if occluder is None else occluder.astype(bool)
    modal = np.zeros((t, h, w), np.uint8)
    for layer in range(k):
        visible = amodal[layer] & ~alpha
        modal[visible] = layer + 1
        alpha = alpha | visible
    return modal


def occlusion_fraction(amodal: np.ndarray, modal: np.ndarray) -> float:
    """Hidden share of the total object area: amodal (K, T, H, W) bool, modal (T, H, W) uint8.

    sum over objects and frames of |amodal_k minus (modal == k + 1)| / sum of |amodal_k|, i.e. the
    fraction of object pixels covered by a nearer object or an occluder; 0.0 with no object area.
    """
    total = int(amodal.sum())
    if total == 0:
        return 0.0
    visible = sum(int(np.count_nonzero(amodal[k] & (modal == k + 1)))
                  for k in range(amodal.shape[0]))
    return float(total - visible) / total
