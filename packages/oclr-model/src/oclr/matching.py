"""Hungarian matching of predicted layers to ground-truth layers, one assignment per clip.

The cost of pairing prediction i with ground truth j is the mean binary cross-entropy between
sigmoid(logits_i) and target_j over all T frames and pixels, so one object keeps one channel for the
whole clip. Missing objects are empty ground-truth channels and are matched like any other.
With `dice` > 0 (LossConfig.dice_weight), that many times the soft Dice loss of the pair is added.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from oclr.assignment import row_for_each_column


def bce_cost(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(K, K) float32 cost[i, j] = mean BCE(sigmoid(logits[:, i]), target[:, j]).

    logits (T, K, H, W), target (T, K, H, W) in [0, 1]. Uses BCE(x, y) = softplus(x) - x * y, so all
    K * K pairs cost one matrix product and stay finite for any logit.
    """
    x = logits.detach().float().movedim(1, 0).flatten(1)  # (K, N)
    y = target.detach().float().movedim(1, 0).flatten(1)  # (K, N)
    return F.softplus(x).mean(1, keepdim=True) - x @ y.T / x.shape[1]


def soft_dice(inter: torch.Tensor, area_p: torch.Tensor, area_y: torch.Tensor) -> torch.Tensor:
    """Soft Dice loss 1 - (2 inter + 1) / (area_p + area_y + 1), elementwise (broadcasting); the
    +1 makes two empty masks score 0."""
    return 1 - (2 * inter + 1) / (area_p + area_y + 1)


def dice_matrix(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(K, K) soft_dice of every (prediction i, target j) pair: inter = sum(p_i y_j), areas
    sum(p_i) and sum(y_j); p, y (K, N) probabilities and masks of one clip."""
    return soft_dice(p @ y.T, p.sum(1, keepdim=True), y.sum(1)[None, :])


def dice_cost(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(K, K) float32 dice_matrix of sigmoid(logits) against target; logits, target (T, K, H, W).
    """
    p = torch.sigmoid(logits.detach().float()).movedim(1, 0).flatten(1)  # (K, N)
    y = target.detach().float().movedim(1, 0).flatten(1)  # (K, N)
    return dice_matrix(p, y)


def hungarian_match(logits: torch.Tensor, target: torch.Tensor,
                    dice: float = 0.0) -> torch.Tensor:
    """Permutation `perm` (K,) int64 such that prediction channel perm[j] is matched to target j.

    logits (T, K, H, W) raw scores, target (T, K, H, W) float/bool masks. `logits[:, perm]` then
    lines up with `target` channel by channel; so does `order[perm]` for order scores (K,).
    The cost is the BCE cost, plus `dice` times dice_cost when dice > 0.
    """
    if logits.shape != target.shape or logits.ndim != 4:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} must both "
                         "be (T, K, H, W)")
    cost = bce_cost(logits, target)  # rows: predictions, columns: targets
    if dice > 0:
        cost = cost + dice * dice_cost(logits, target)
    perm = row_for_each_column(cost.cpu().numpy(), maximize=False)
    return torch.as_tensor(perm, dtype=torch.long, device=logits.device)


@torch.no_grad()
def hungarian_match_batch(logits: torch.Tensor, target: torch.Tensor,
                          dice: float = 0.0) -> torch.Tensor:
    """(B, K) int64 permutations, one per clip; logits, target (B, T, K, H, W)."""
    return torch.stack([hungarian_match(lg, tg, dice)
                        for lg, tg in zip(logits, target, strict=True)])


@dataclass(frozen=True)
class HungarianMatcher:
    """The matching the loss runs before its terms: `matcher(logits, target)` -> (B, K) int64
    permutations, one Hungarian assignment per clip, no gradient (`hungarian_match_batch`).

    logits, target (B, T, K, H, W); prediction channel perm[b, j] is matched to target j of clip b.
    """

    dice: float = 0.0  # weight of the soft-Dice cost beside the BCE cost; 0 = the paper's cost

    def __post_init__(self) -> None:
        if self.dice < 0:
            raise ValueError(f"the matcher's dice weight must be >= 0, got {self.dice}")

    def __call__(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return hungarian_match_batch(logits, target, dice=self.dice)


def apply_permutation(x: torch.Tensor, perm: torch.Tensor, dim: int) -> torch.Tensor:
    """Reorder axis `dim` of x (B, ...) by the per-clip permutations perm (B, K)."""
    shape = [1] * x.ndim
    shape[0], shape[dim] = perm.shape
    index = perm.reshape(shape).expand(*x.shape[:dim], perm.shape[1], *x.shape[dim + 1:])
    return torch.gather(x, dim, index)
