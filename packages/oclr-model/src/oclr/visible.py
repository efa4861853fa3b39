"""Depth order read from a visibility head (ModelConfig.order_head "visible"; not in the paper).

The visibility head says, at every pixel, which layer is seen there: K + 1 logits per pixel,
channel 0 the background and channel 1 + k layer k, softmax over them. It is trained with
cross-entropy against the ground truth's modal masks (`visible_loss`), a per-pixel motion
segmentation where the layers compete for each pixel, which a sigmoid per amodal channel does not
ask for. The order follows from it and the amodal masks, with no learned order head:

    e[t, i, j] = sum over pixels of amodal_i * visible_j      (i's mask where j is seen at t)
    s[t, i]    = sum over j != i of (e[t, i, j] - e[t, j, i]) / (e[t, i, j] + e[t, j, i] + c)

Where layer i lies behind j, i's amodal mask reaches under j, where j is seen, and not the other
way round, so s[t, i] grows for the layers behind (lower score = nearer, as everywhere). A copy
of an object in a spare channel is never the one seen, so it lands behind the object; a frame
where no two layers overlap scores every layer 0. c (`SMOOTH` of the frame's area) keeps a
few blurred edge pixels from deciding a pair. Scores are taken without gradient: the masks and
the visibility head learn from their own terms, and the order terms of the loss train nothing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from oclr.matching import apply_permutation
from oclr.modal import modal_targets

SMOOTH = 0.002  # c as a share of the frame's pixels: ~8 pixels at 48 x 80


def visible_order(amodal_prob: torch.Tensor, visible_logits: torch.Tensor) -> torch.Tensor:
    """(B, T, K) order scores, lower = nearer: amodal_prob (B, T, K, H, W) probabilities,
    visible_logits (B, T, K + 1, H, W) (channel 0 background). No gradient."""
    with torch.no_grad():
        a = amodal_prob.float()
        seen = torch.softmax(visible_logits.float(), dim=2)[:, :, 1:]  # (B, T, K, H, W)
        e = torch.einsum("btihw,btjhw->btij", a, seen)  # (B, T, K, K)
        eye = torch.eye(e.shape[-1], dtype=torch.bool, device=e.device)
        e = e.masked_fill(eye, 0.0)
        c = SMOOTH * a.shape[-1] * a.shape[-2]
        pair = (e - e.transpose(-1, -2)) / (e + e.transpose(-1, -2) + c)
        return pair.sum(-1).to(amodal_prob.dtype)


def visible_labels(target: torch.Tensor, frame_rank: torch.Tensor, valid: torch.Tensor
                   ) -> torch.Tensor:
    """(B, T, H, W) long: 0 background, 1 + k where layer k is the one seen (the ground truth's
    modal masks, `oclr.modal.modal_targets`). target (B, T, K, H, W) amodal masks, frame_rank
    (B, T, K) or (B, K) ranks, valid (B, K) bool."""
    modal = modal_targets(target, frame_rank, valid)  # (B, T, K, H, W), disjoint
    layers = torch.arange(1, modal.shape[2] + 1, device=modal.device, dtype=modal.dtype)
    return torch.einsum("btkhw,k->bthw", modal, layers).round().long()


def visible_loss(visible_logits: torch.Tensor, perm: torch.Tensor, target: torch.Tensor,
                 frame_rank: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over pixels and frames of the visibility logits (B, T, K + 1, H, W),
    their layer channels put in target order by the matching `perm` (B, K) (the same as the
    amodal channels'), against `visible_labels` of the targets."""
    layers = apply_permutation(visible_logits[:, :, 1:].float(), perm, dim=2)
    logits = torch.cat([visible_logits[:, :, :1].float(), layers], dim=2)
    labels = visible_labels(target, frame_rank, valid)
    return F.cross_entropy(logits.flatten(0, 1), labels.flatten(0, 1))
