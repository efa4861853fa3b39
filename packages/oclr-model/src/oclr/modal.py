"""Modal masks from amodal layers and their depth order (paper eq. (2)).

Each layer is thresholded and the layers are composited front (lowest order score) to back: a pixel
belongs to the front-most layer whose amodal mask covers it, else to the background.
"""

from __future__ import annotations

import numpy as np
import torch


def compose_modal(amodal_prob: torch.Tensor | np.ndarray, order: torch.Tensor | np.ndarray,
                  threshold: float = 0.5) -> torch.Tensor | np.ndarray:
    """Modal label map (..., H, W) int64: 0 background, k + 1 where layer k is visible.

    amodal_prob (..., K, H, W) probabilities (a pixel is in layer k when prob > threshold);
    order (..., K) scores, lower = nearer. order's leading axes must be a prefix of amodal_prob's
    leading axes and broadcast over the rest, e.g. amodal (B, T, K, H, W) with order (B, K) or
    (B, T, K). Ties in score go to the lower channel. numpy in -> numpy out, torch in -> torch out.
    """
    as_numpy = isinstance(amodal_prob, np.ndarray)
    prob, score = torch.as_tensor(amodal_prob), torch.as_tensor(order, device=None)
    score = _broadcast_order(score.to(prob.device), prob.shape)  # (..., K, 1, 1)
    on = prob > threshold  # (..., K, H, W)
    depth = torch.where(on, score.float(), torch.full_like(score.float(), torch.inf))
    front = depth.argmin(dim=-3)  # (..., H, W) the nearest covering layer
    labels = torch.where(on.any(dim=-3), front + 1, torch.zeros_like(front))
    return labels.numpy() if as_numpy else labels


def _broadcast_order(order: torch.Tensor, prob_shape: torch.Size) -> torch.Tensor:
    """order (..., K) -> (..., [1]*extra, K, 1, 1) that broadcasts against (..., K, H, W)."""
    lead = prob_shape[:-3]
    prefix = tuple(lead[:order.ndim - 1])
    if order.shape[-1] != prob_shape[-3] or tuple(order.shape[:-1]) != prefix:
        raise ValueError(f"order {tuple(order.shape)} does not fit amodal {tuple(prob_shape)}: "
                         f"need (..., K) with leading axes a prefix of {tuple(lead)}")
    extra = len(lead) - (order.ndim - 1)
    return order.reshape(*order.shape[:-1], *([1] * extra), order.shape[-1], 1, 1)
