"""Which layers hold an object (ModelConfig.objectness; not in the paper).

A network with more queries (K) than objects has spare layers. Their masks are rarely empty:
part of an object, a copy of one, a patch of background. Wherever the order puts them, a spare
layer in front of a real one hides it in the modal composite, and measured with the ground
truth's matching (docs/model.md, "What limits modal J under the readout"), putting the spare
layers behind the rest is worth up to 0.18 modal J on the learning check, a perfect order only
0.01-0.03. No rule on the masks alone found them.

The objectness head learns it: per layer, an MLP over

    - the U-Net decoder's last features averaged under the layer's mask (`oclr.order_pool`), C_0;
    - STATS statistics of the thresholded masks over the clip (`mask_statistics`): the mean
      probability over the pixels the layer claims, its claimed area (log of the share of the
      clip's pixels, floored), its largest IoU with another layer and with a surer one, the share
      of its claimed pixels another layer claims and the largest share a surer one claims, and
      how far the flow under it differs from the rest of the frame,

all taken without gradient, so the head trains on its own and leaves the masks and the order as
they were (the same run read with and without it differs only in what is done with its spare
layers). Its loss (`oclr.losses.objectness_loss`) is BCE towards 1 for the layers the Hungarian
matching gives an object, 0 for the others. At evaluation and inference (`oclr.readout`) the
layers it judges spare (sigmoid < 0.5) are emptied (ModelConfig.spares "drop", the default: a
DETR-style model's "no object" queries are discarded the same way) or put behind all the others,
each group keeping its own order ("behind", `spares_behind`).
"""

from __future__ import annotations

import torch
from torch import nn

from oclr.copies import THRESHOLD, clip_overlaps
from oclr.order_pool import mask_pool

STATS = 7  # statistics per layer (module docstring, `mask_statistics`)
AREA_FLOOR = 1e-4  # the smallest claimed share of the clip's pixels the log area sees


def mask_statistics(prob: torch.Tensor, flow: torch.Tensor,
                    threshold: float = THRESHOLD) -> torch.Tensor:
    """prob (B, T, K, H, W) amodal probabilities, flow (B, T, 4, H, W) -> (B, K, STATS) float32:
    the mean probability over the claimed pixels (0 for an empty layer), log(max(area share,
    AREA_FLOOR)), the largest IoU with another layer, the share of the claimed pixels another
    layer also claims; the same two against surer layers only (higher mean probability); and
    the flow contrast: the norm of the difference between the mean flow under the layer's
    probabilities and under their complement, averaged over the frames."""
    with torch.autocast(prob.device.type, enabled=False):
        prob, flow = prob.detach().float(), flow.detach().float()
        on, area, inter, iou, sure = clip_overlaps(prob, threshold)  # on (B, K, N)
        share = (area / on.shape[-1]).clamp(min=AREA_FLOOR).log()
        eye = torch.eye(on.shape[1], dtype=torch.bool, device=on.device)
        iou = iou.masked_fill(eye, 0)
        covered = inter.masked_fill(eye, 0) / area[:, :, None].clamp(min=1)  # (B, K, K) k in j
        others = (on.sum(1, keepdim=True) - on).clamp(max=1)  # claimed by another layer
        shared = (on * others).sum(-1) / area.clamp(min=1)
        surer = (sure[:, None, :] > sure[:, :, None]).float()  # (B, K, K): j surer than k
        stats = [sure, share, iou.amax(-1), shared, (iou * surer).amax(-1),
                 (covered * surer).amax(-1), flow_contrast(prob, flow)]
        return torch.stack(stats, dim=-1)


def flow_contrast(prob: torch.Tensor, flow: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """prob (B, T, K, H, W), flow (B, T, 4, H, W) -> (B, K): per frame the norm of (mean flow
    weighted by prob) - (mean flow weighted by 1 - prob), averaged over the frames. A layer on
    a moving object differs from the rest of the frame; one on a patch of background does not."""
    inside = torch.einsum("btkhw,btchw->btkc", prob, flow) / (prob.sum((3, 4))[..., None] + eps)
    rest = 1.0 - prob
    outside = torch.einsum("btkhw,btchw->btkc", rest, flow) / (rest.sum((3, 4))[..., None] + eps)
    return (inside - outside).norm(dim=-1).mean(1)


class ObjectnessHead(nn.Module):
    """(B, K) logits, > 0 = the layer holds an object, from detached per-layer inputs (module
    docstring): forward(prob (B, T, K, H, W), features (B, T, C_0, H, W), flow (B, T, 4, H, W)).
    """

    def __init__(self, d_model: int, feature_channels: int) -> None:
        super().__init__()
        width = feature_channels + STATS
        self.mlp = nn.Sequential(nn.Linear(width, d_model), nn.ReLU(), nn.Linear(d_model, 1))

    def forward(self, prob: torch.Tensor, features: torch.Tensor,
                flow: torch.Tensor) -> torch.Tensor:
        inputs = objectness_inputs(prob, features, flow)
        return self.mlp(inputs.to(self.mlp[0].weight.dtype)).squeeze(-1)


def objectness_inputs(prob: torch.Tensor, features: torch.Tensor,
                      flow: torch.Tensor) -> torch.Tensor:
    """The head's detached inputs (B, K, C_0 + STATS) float32 (ObjectnessHead's shapes)."""
    pooled = mask_pool(prob, features.detach()).float()  # (B, K, C_0)
    return torch.cat([pooled, mask_statistics(prob, flow)], dim=-1)


def spares_behind(scores: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """scores (B, K) or (B, T, K) order scores (lower = nearer), logits (B, K) objectness -> the
    scores with every layer whose sigmoid(logit) < 0.5 put behind every other layer, each group
    in its own order: a spare layer's score is raised by the clip's score range plus 1."""
    spare = (logits < 0).to(scores.dtype)  # sigmoid < 0.5
    if scores.ndim == 3:
        spare = spare[:, None]
    flat = scores.flatten(1)
    span = (flat.amax(1) - flat.amin(1) + 1.0).view(-1, *[1] * (scores.ndim - 1))
    return scores + spare * span
