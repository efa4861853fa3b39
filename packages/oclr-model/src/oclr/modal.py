"""Modal masks from amodal layers and their depth order (paper eq. (2)), hard and soft.

`compose_modal` (inference): each layer is thresholded and the layers are composited front (lowest
order score) to back: a pixel belongs to the front-most layer whose amodal mask covers it, else to
the background.

`soft_modal` (the loss's modal term): a differentiable composite. For one front-to-back order pi
of the K layers, layer k is seen where it is present and no layer in front of it is:
p_k * prod over j in front of k of (1 - p_j). The result is the average of that over all K! orders,
each weighted by how far the order scores agree with it (`order_weights`), so the masks' gradient
reaches the order head; it is computed per set of layers in front, not per order.
`modal_targets` makes the same composite of the ground truth.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
import torch.nn.functional as F


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


def depth_orders(k: int) -> torch.Tensor:
    """(K!, K) int64: every front-to-back order of K layers, row i = layer indices nearest first."""
    return torch.tensor(list(itertools.permutations(range(k))), dtype=torch.long)


def order_weights(scores: torch.Tensor, orders: torch.Tensor, tau: float) -> torch.Tensor:
    """(B, P) weights summing to 1 over the P orders (P, K): softmax over orders of the sum, over
    the pairs a in front of b in the order, of log sigmoid((r_b - r_a) / tau). scores (B, K),
    lower = nearer; the weight of an order is the product of its pairs' sigmoids, normalised."""
    ranked = scores[:, orders] / tau  # (B, P, K): scores in each order's front-to-back sequence
    gaps = ranked[:, :, None, :] - ranked[:, :, :, None]  # (B, P, K, K) [a, b] = r_b - r_a
    later = torch.ones(orders.shape[1], orders.shape[1], dtype=torch.bool,
                       device=scores.device).triu(1)  # a before b
    return (F.logsigmoid(gaps) * later).sum((2, 3)).softmax(dim=1)


def front_sets(orders: torch.Tensor) -> torch.Tensor:
    """(P, K) int64: for each order (row of `orders` (P, K)) and layer k, the set of layers in
    front of k as a bit mask (bit j set = layer j is nearer)."""
    p, k = orders.shape
    out = torch.zeros(p, k, dtype=torch.long)
    for i, order in enumerate(orders.tolist()):
        mask = 0
        for layer in order:
            out[i, layer] = mask
            mask |= 1 << layer
    return out


def subset_products(clear: torch.Tensor) -> torch.Tensor:
    """(B, T, 2^K, H, W): entry s is the product of clear[:, :, j] over the bits j of s (1 for
    s = 0). clear (B, T, K, H, W)."""
    prods = [torch.ones_like(clear[:, :, 0])]
    for s in range(1, 2 ** clear.shape[2]):
        j = (s & -s).bit_length() - 1  # the lowest bit: s = (s without j) + j
        prods.append(prods[s & (s - 1)] * clear[:, :, j])
    return torch.stack(prods, dim=2)


def soft_modal(prob: torch.Tensor, scores: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """(B, T, K, H, W) soft modal masks: the expected visible part of each layer over the K! depth
    orders weighted by `order_weights`. prob (B, T, K, H, W) amodal probabilities, scores (B, K)
    order scores (lower = nearer), or (B, T, K) per frame: each frame is then composed by its own.

    Layer k is seen at p_k times the product of (1 - p_j) over the set S of layers in front of
    it, so the expectation is p_k * sum over S of P(S in front of k) * prod_S (1 - p_j): the
    probabilities of the 2^(K-1) sets are small (B, K, 2^K) coefficients and the pixel work is
    the 2^K products and one batched matrix product, not one composite per order.
    """
    b, t, k, h, w = prob.shape
    if scores.ndim == 3:  # per frame: every frame a clip of one frame with its own scores
        frames = soft_modal(prob.reshape(b * t, 1, k, h, w), scores.reshape(b * t, k), tau)
        return frames.reshape(b, t, k, h, w)
    orders = depth_orders(k).to(prob.device)
    weights = order_weights(scores, orders, tau)  # (B, P)
    onehot = F.one_hot(front_sets(orders).to(prob.device), 2 ** k).to(weights.dtype)
    coef = torch.einsum("bp,pks->bks", weights, onehot)  # (B, K, 2^K) P(set s in front of k)
    prods = subset_products(1 - prob).flatten(3).transpose(1, 2).flatten(2)  # (B, 2^K, T*H*W)
    seen = torch.bmm(coef.to(prods.dtype), prods)  # (B, K, T*H*W)
    return prob * seen.unflatten(2, (t, h * w)).transpose(1, 2).unflatten(3, (h, w))


def modal_targets(target: torch.Tensor, gt_rank: torch.Tensor, valid: torch.Tensor
                  ) -> torch.Tensor:
    """(B, T, K, H, W) float modal masks of the ground truth: valid layer k where no valid layer
    of lower rank (nearer) covers the pixel; padded layers are empty. target (B, T, K, H, W)
    binary amodal masks, gt_rank (B, K) 0 = front-most, or (B, T, K) ranks per frame, valid
    (B, K) bool."""
    on = (target > 0.5) & valid[:, None, :, None, None]
    rank = gt_rank if gt_rank.ndim == 3 else gt_rank[:, None].expand(-1, target.shape[1], -1)
    nearer = (rank[..., None, :] < rank[..., :, None]) & valid[:, None, None, :]  # (B, T, K, J)
    covered = torch.einsum("btkj,btjhw->btkhw", nearer.float(), on.float()) > 0
    return (on & ~covered).float()
