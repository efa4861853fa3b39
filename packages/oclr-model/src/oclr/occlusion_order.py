"""Depth order read from where the flow says a layer is being hidden (ModelConfig.order_head
"occlusion"; not in the paper).

A pixel that the next frame hides fails the forward-backward check: its forward flow to t + 1,
followed back by the backward flow found where it lands, does not return it, because what is seen
there at t + 1 is the surface in front of it, moving its own way. Such a pixel belongs to a layer
behind, and the layer seen where it lands is in front of it. The same holds backwards in time for
pixels the previous frame hid. So, with p the amodal probabilities, per clip:

    occ(t, x)  = |f_t(x) + b_{t+1}(x + f_t(x))| > THRESHOLD + RELATIVE |f_t(x)|   (and backwards)
    e[a, b]    = sum over t, x of p_b(t, x) occ(t, x) p_a(t + 1, x + f_t(x))   (+ backwards)
    s[i]       = sum over j != i of (e[j, i] - e[i, j]) / (e[j, i] + e[i, j] + SMOOTH)

e[a, b] is the evidence that layer a hides layer b; s grows for the layers behind (lower score =
nearer, as everywhere). It needs no amodal completion: the hidden pixels are seen at t, so the
visible parts of the masks carry the evidence. Pixels whose flow leaves the frame are not
checked; a clip of one frame, or one without hidden pixels, scores every layer 0. The scores are
taken without gradient and have no parameters: the masks learn from their own terms, and the
order terms of the loss train nothing.

Measured (docs/model.md, "Depth order from the occlusions in the flow"): on the learning check's
Syn-val split the rule ranks 82 of the 83 interacting pairs right on the ground truth's modal
masks, and 0.71-0.75 of them on the masks of networks whose learned order heads score chance.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

THRESHOLD = 0.5  # px: the forward-backward round trip allowed before a pixel counts as hidden
RELATIVE = 0.05  # and this share of the flow's length on top (fast motion is less exact)
SMOOTH = 1.0  # pixels of evidence added to each pair's total, so a few stray ones decide nothing
# Per frame: the steps whose frames lie within WINDOW frames of it (0: the steps into and out of
# the frame), and CLIP_SHARE of the whole clip's evidence on top, which only decides frames
# without evidence of their own. Tuned on a split of its own (issue 16's scene, data seed 5000,
# 96 clips; docs/training.md, "Depth order that changes"): per-frame order accuracy on the
# ground truth's masks 0.828 with (1, 0.1), 0.866 with (0, 0.01); on three trained networks'
# masks +0.03 on average.
WINDOW = 0
CLIP_SHARE = 0.01


def warp(x: torch.Tensor, flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x (N, C, H, W) sampled bilinearly at p + flow(p), flow (N, 2, H, W) in pixels (u, v)
    -> (sampled (N, C, H, W), inside (N, 1, H, W) float: 1 where p + flow(p) is in the frame)."""
    n, _, h, w = flow.shape
    ys = torch.arange(h, device=flow.device, dtype=flow.dtype)[:, None]
    xs = torch.arange(w, device=flow.device, dtype=flow.dtype)[None, :]
    px, py = xs + flow[:, 0], ys + flow[:, 1]  # (N, H, W)
    grid = torch.stack([2 * px / max(w - 1, 1) - 1, 2 * py / max(h - 1, 1) - 1], dim=-1)
    inside = ((px >= 0) & (px <= w - 1) & (py >= 0) & (py <= h - 1)).to(flow.dtype)
    sampled = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return sampled, inside[:, None]


def hidden_pixels(there: torch.Tensor, back: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) float: 1 where the flow `there` (N, 2, H, W), frame t to its neighbour, and
    the neighbour's flow `back` (N, 2, H, W) to t do not make a round trip, and it stays inside."""
    returned, inside = warp(back, there)
    return missed(there, returned, inside)


def missed(there: torch.Tensor, returned: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
    """`hidden_pixels` from `there` (N, 2, H, W), the neighbour's flow `returned` (N, 2, H, W)
    already sampled where each pixel lands, and `inside` (N, 1, H, W) from the same `warp`."""
    # hypot of the two components: 20x faster on the CPU than .norm(dim=1), the same values
    miss = torch.hypot(*(there + returned).unbind(1))[:, None]
    length = torch.hypot(*there.unbind(1))[:, None]
    return (miss > THRESHOLD + RELATIVE * length).to(there.dtype) * inside


def hiding_evidence(prob: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """(B, K, K) e[a, b], the evidence that layer a hides layer b over the clip (module
    docstring): `step_evidence` summed over the clip's steps."""
    return step_evidence(prob, flow).sum(1)


def step_evidence(prob: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """(B, T - 1, K, K) e[s, a, b], the evidence that layer a hides layer b between frames s and
    s + 1 (forward and backward checks); (B, 0, K, K) for one frame.

    prob (B, T, K, H, W) amodal probabilities, flow (B, T, 4, H, W) the network's input,
    [u, v to t + 1, u, v to t - 1] in pixels at the same H, W."""
    b, t, k = prob.shape[:3]
    e = prob.new_zeros(b, max(t - 1, 0), k, k)
    if t < 2:
        return e
    ahead, behind = flow[:, :-1, :2].flatten(0, 1), flow[:, 1:, 2:].flatten(0, 1)
    for there, back, src, dst in ((ahead, behind, prob[:, :-1], prob[:, 1:]),
                                  (behind, ahead, prob[:, 1:], prob[:, :-1])):
        # one sampling for the neighbour's flow and its masks where each pixel lands
        sampled, inside = warp(torch.cat([back, dst.flatten(0, 1)], dim=1), there)
        hidden = missed(there, sampled[:, :2], inside)  # (B*(T-1), 1, H, W)
        landed = sampled[:, 2:]  # p_a where each pixel lands
        pair = torch.einsum("nbhw,nahw->nab", src.flatten(0, 1) * hidden, landed)
        e = e + pair.unflatten(0, (b, t - 1))
    eye = torch.eye(k, dtype=torch.bool, device=prob.device)
    return e.masked_fill(eye, 0.0)


def scores_of(e: torch.Tensor) -> torch.Tensor:
    """(..., K) s[i] = sum over j of (e[j, i] - e[i, j]) / (e[j, i] + e[i, j] + SMOOTH), from
    evidence e (..., K, K): higher for the layers behind."""
    over = e.transpose(-1, -2)  # over[i, j] = e[j, i]: evidence that j hides i
    return ((over - e) / (over + e + SMOOTH)).sum(-1)


def occlusion_order(prob: torch.Tensor, flow: torch.Tensor, *, per_frame: bool = False
                    ) -> torch.Tensor:
    """(B, K) order scores, lower = nearer, from `hiding_evidence`; prob (B, T, K, H, W) amodal
    probabilities, flow (B, T, 4, H, W). No gradient.

    per_frame (ModelConfig.order_head "occlusion_frame"): (B, T, K), frame t scored on the
    evidence of the steps within WINDOW frames of it, plus CLIP_SHARE of the clip's, so that a
    frame without evidence of its own takes the clip's order and a pair that swaps depth during
    the clip (issue 16) is ranked by what it shows near each frame."""
    # float32 even under autocast (bf16 sums of evidence would round the counts)
    with torch.no_grad(), torch.autocast(prob.device.type, enabled=False):
        steps = step_evidence(prob.float(), flow.float())  # (B, T - 1, K, K)
        clip = steps.sum(1)
        if not per_frame:
            return scores_of(clip)
        t = prob.shape[1]
        frames = torch.arange(t, device=prob.device)[:, None]
        step = torch.arange(t - 1, device=prob.device)[None, :]  # step s joins s and s + 1
        near = ((step - frames).abs() <= WINDOW) | ((step + 1 - frames).abs() <= WINDOW)
        local = torch.einsum("ts,bsij->btij", near.to(steps.dtype), steps)
        return scores_of(local + CLIP_SHARE * clip[:, None])

