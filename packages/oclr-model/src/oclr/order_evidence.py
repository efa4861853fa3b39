"""Occlusion evidence for the order head (ModelConfig.order_evidence; not in the paper).

Where two layers' amodal masks overlap, the flow there is the front layer's own motion. So for
each layer k and frame t, compare the mean flow over the part of k's mask that no other layer
covers (its own motion) with the mean flow over the part that another layer also covers: for the
front layer of a pair they agree, for the one behind they differ by the two motions. Per layer:

    gap_k     = sum_t a_kt |f_overlap,kt - f_own,kt| / sum_t a_kt   (a_kt: k's overlap area at t)
    overlap_k = share of k's mask that another layer covers

and the features are (log(1 + gap_k), overlap_k). Masks are soft (amodal probabilities, taken
without gradient: the features are evidence for the order head, not a way to move the masks).
"""

from __future__ import annotations

import torch

FEATURES = 2  # log(1 + flow gap), overlap share


def occlusion_evidence(prob: torch.Tensor, flow: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """(B, K, FEATURES) float: prob (B, T, K, H, W) amodal probabilities, flow (B, T, C, H, W)
    (the network's input flow, pixels) at the same H, W."""
    prob = prob.detach().float()
    flow = flow.float()
    others = (prob.sum(2, keepdim=True) - prob).clamp(max=1.0)  # another layer present
    own, shared = prob * (1 - others), prob * others  # (B, T, K, H, W)
    f_own = _mean_flow(own, flow, eps)  # (B, T, K, C)
    f_shared = _mean_flow(shared, flow, eps)
    area = shared.sum((3, 4))  # (B, T, K)
    gap = (f_shared - f_own).norm(dim=-1)  # (B, T, K)
    gap = (area * gap).sum(1) / (area.sum(1) + eps)  # (B, K)
    overlap = area.sum(1) / (prob.sum((1, 3, 4)) + eps)
    return torch.stack([torch.log1p(gap), overlap], dim=-1)


def _mean_flow(weight: torch.Tensor, flow: torch.Tensor, eps: float) -> torch.Tensor:
    """(B, T, K, C) weighted mean flow per layer and frame; weight (B, T, K, H, W)."""
    total = torch.einsum("btkhw,btchw->btkc", weight, flow)
    return total / (weight.sum((3, 4))[..., None] + eps)
