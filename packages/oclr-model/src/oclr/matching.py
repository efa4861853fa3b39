"""Hungarian matching of predicted layers to ground-truth layers, one assignment per clip.

The cost of pairing prediction i with ground truth j is the mean binary cross-entropy between
sigmoid(logits_i) and target_j over all T frames and pixels, so one object keeps one channel for the
whole clip. Missing objects are empty ground-truth channels and are matched like any other.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment


def bce_cost(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(K, K) float32 cost[i, j] = mean BCE(sigmoid(logits[:, i]), target[:, j]).

    logits (T, K, H, W), target (T, K, H, W) in [0, 1]. Uses BCE(x, y) = softplus(x) - x * y, so all
    K * K pairs cost one matrix product and stay finite for any logit.
    """
    x = logits.detach().float().movedim(1, 0).flatten(1)  # (K, N)
    y = target.detach().float().movedim(1, 0).flatten(1)  # (K, N)
    return F.softplus(x).mean(1, keepdim=True) - x @ y.T / x.shape[1]


def hungarian_match(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Permutation `perm` (K,) int64 such that prediction channel perm[j] is matched to target j.

    logits (T, K, H, W) raw scores, target (T, K, H, W) float/bool masks. `logits[:, perm]` then
    lines up with `target` channel by channel; so does `order[perm]` for order scores (K,).
    """
    if logits.shape != target.shape or logits.ndim != 4:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} must both "
                         "be (T, K, H, W)")
    cost = bce_cost(logits, target).cpu().numpy()  # rows: predictions, columns: targets
    pred_idx, gt_idx = linear_sum_assignment(cost)
    perm = np.empty_like(pred_idx)
    perm[gt_idx] = pred_idx
    return torch.as_tensor(perm, dtype=torch.long, device=logits.device)


@torch.no_grad()
def hungarian_match_batch(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B, K) int64 permutations, one per clip; logits, target (B, T, K, H, W)."""
    return torch.stack([hungarian_match(lg, tg) for lg, tg in zip(logits, target, strict=True)])


def apply_permutation(x: torch.Tensor, perm: torch.Tensor, dim: int) -> torch.Tensor:
    """Reorder axis `dim` of x (B, ...) by the per-clip permutations perm (B, K)."""
    shape = [1] * x.ndim
    shape[0], shape[dim] = perm.shape
    index = perm.reshape(shape).expand(*x.shape[:dim], perm.shape[1], *x.shape[dim + 1:])
    return torch.gather(x, dim, index)
