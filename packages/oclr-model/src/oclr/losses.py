"""OCLR training losses (paper section 2.3, weights of REFERENCE.md section 3), after matching.

    total = 1.0 * amodal BCE + 0.2 * boundary BCE + 0.05 * order ranking loss
            [+ modal_weight * soft-composite modal BCE: the reference code's optional term]
            [+ dice_weight * soft Dice per real object: not in the paper, off by default]

The order term is divided by the K(K-1)/2 unordered pairs, as the reference code does (the paper's
text divides by K(K-1), which halves it; REFERENCE.md section 10). Per-frame order scores (B, T, K),
ModelConfig.order_head "frame", not in the paper) are ranked frame by frame on the pairs that
overlap at that frame (`frame_order_loss`), and the modal term composes each frame by its own.

Ground-truth convention (the shards'): channel k of the target is layer k, with a depth rank per
channel, 0 = front-most. By default the rank is the channel index (layer 0 in front); a per-clip
`gt_rank` (B, K) overrides it. Layers past a clip's object count are empty padding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from oclr.matching import HungarianMatcher, apply_permutation, soft_dice
from oclr.modal import modal_targets, soft_modal
from oclr.visible import visible_loss

# (logits, target) both (B, T, K, H, W) -> (B, K) int64: prediction channel perm[b, j] is matched
# to target j; e.g. `oclr.matching.HungarianMatcher`.
Matcher = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class LossConfig:
    """Weights and settings of the OCLR loss (reference code defaults)."""

    amodal_weight: float = 1.0
    boundary_weight: float = 0.2  # paper Table 1, lambda_bound
    boundary_radius: int = 3  # band = GT dilated minus GT eroded by +-3 px: 6 px wide
    order_weight: float = 0.05
    order_tau: float = 1.0
    # Not in the paper: soft-Dice (1 - soft IoU-like overlap) per real object, also added to the
    # matching cost when > 0. Mean BCE over all pixels barely notices one query holding two small
    # objects; Dice weighs each object equally, which short CPU runs need (docs/training.md).
    dice_weight: float = 0.0
    # The reference code's optional modal term (its weight 0.1; not in the paper): BCE between the
    # soft composite of the amodal masks, averaged over the K! depth orders weighted by the order
    # scores, and the modal masks. The only term through which the masks train the order head, and
    # the one that charges a query copying a visible object in front of it. 0 = off.
    modal_weight: float = 0.0
    # Which layers the modal term scores: "all" (the reference's), or "padded": only the layers
    # matched to no object, whose modal target is empty, so the term charges a copy of an object
    # for being seen (in front) and nothing else; it never asks a query that holds two objects
    # to rank itself in front of them, as "all" does in short runs (docs/model.md).
    modal_layers: str = "all"
    # True: the modal term's gradient reaches the order scores only, not the amodal masks (their
    # probabilities enter it detached), so it trains the order head and leaves the masks to the
    # amodal terms.
    modal_detach: bool = False
    # Not in the paper: BCE towards empty of the layers matched to no object, over what the
    # matched layers hold (`copy_loss`): what a spare query pays for copying an object, wherever
    # it lies in depth. The amodal BCE charges it too, but averaged over every pixel of every
    # layer, where a copy is a small share. 0 = off.
    copy_weight: float = 0.0
    # The share of the training steps, in [0, 1), before which the copy term is off (0: from the
    # start), so that the spare queries can first take up the objects of merged pairs.
    copy_start: float = 0.0
    # Not in the paper: weight of the visibility head's cross-entropy against the modal masks
    # (`oclr.visible.visible_loss`), used only when the loss is given visibility logits (a model
    # with ModelConfig.order_head "visible"); the term is then "visible".
    visible_weight: float = 1.0
    # Not in the paper: weight of the objectness head's BCE (`objectness_loss`:
    # 1 for the layers matched to an object, 0 for the others), used only when the loss is given
    # objectness logits (a model with ModelConfig.objectness); the term is then "objectness".
    # Its inputs are detached, so it trains that head alone.
    objectness_weight: float = 1.0

    def __post_init__(self) -> None:
        if min(self.amodal_weight, self.boundary_weight, self.order_weight, self.dice_weight,
               self.modal_weight, self.visible_weight, self.copy_weight,
               self.objectness_weight) < 0:
            raise ValueError("loss weights must be >= 0")
        if not 0.0 <= self.copy_start < 1.0:
            raise ValueError(f"copy_start must be in [0, 1), got {self.copy_start!r}")
        if self.boundary_radius < 1 or self.order_tau <= 0:
            raise ValueError("boundary_radius must be >= 1 and order_tau > 0")
        if not isinstance(self.modal_detach, bool):
            raise ValueError(f"modal_detach must be true or false, got {self.modal_detach!r}")
        if self.modal_layers not in MODAL_LAYERS:
            raise ValueError(f"modal_layers must be one of {list(MODAL_LAYERS)}, got "
                             f"{self.modal_layers!r}")


MODAL_LAYERS = ("all", "padded")


def boundary_band(target: torch.Tensor, radius: int) -> torch.Tensor:
    """(..., H, W) bool band around mask edges: dilated minus eroded by a (2r+1)^2 square.

    target (..., H, W) float/bool binary masks. The image border is not an edge: outside pixels
    neither dilate nor erode the mask. A pixel is in the band when the (2r+1)^2 square around it,
    cut to the image, holds both mask and background: 0 < mean < 1, the mean taken by two 1-D
    box filters that skip outside pixels (one pass each; 4x faster than two max-filters).
    """
    m = target.detach().float().reshape(-1, 1, *target.shape[-2:])  # (N, 1, H, W)
    size = 2 * radius + 1
    with torch.no_grad():
        mean = F.avg_pool2d(m, (1, size), stride=1, padding=(0, radius), count_include_pad=False)
        mean = F.avg_pool2d(mean, (size, 1), stride=1, padding=(radius, 0),
                            count_include_pad=False)
    # the smallest non-zero mean is 1 / size^2; float32 rounding is far below this margin
    eps = 0.5 / size**2
    return ((mean > eps) & (mean < 1 - eps)).reshape(target.shape)


def overlapping_pairs(target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, K, K) bool, True where layers i != j are both valid and their masks share a pixel in
    some frame. target (B, T, K, H, W), valid (B, K) bool."""
    m = (target > 0.5).movedim(2, 1).flatten(2).float()  # (B, K, T*H*W)
    overlap = torch.einsum("bin,bjn->bij", m, m) > 0
    eye = torch.eye(m.shape[1], dtype=torch.bool, device=m.device)
    return overlap & ~eye & valid[:, :, None] & valid[:, None, :]


def order_loss(scores: torch.Tensor, target: torch.Tensor, gt_rank: torch.Tensor,
               valid: torch.Tensor, tau: float) -> torch.Tensor:
    """Pairwise ranking loss, paper eq. (4): mean over clips of
    sum over overlapping pairs (i behind j) of -log sigmoid((r_i - r_j) / tau), divided by the
    K(K-1)/2 unordered pairs (the reference code's normaliser; the paper's text has K(K-1)).

    scores (B, K) matched to the target channels, target (B, T, K, H, W), gt_rank (B, K) (0 =
    front-most), valid (B, K) bool. Pairs that never overlap count in the normaliser, not the sum.
    The reference clamps the sigmoid to [1e-5, 1 - 1e-5]; softplus needs no clamp, and the two
    differ only past |r_i - r_j| = 11.5 tau, where the clamp stops the gradient.
    """
    k = scores.shape[1]
    behind = (gt_rank[:, :, None] > gt_rank[:, None, :]) & overlapping_pairs(target, valid)
    diff = (scores[:, :, None] - scores[:, None, :]) / tau  # (B, K, K) r_i - r_j
    per_pair = F.softplus(-diff) * behind  # -log sigmoid(x) = softplus(-x)
    return per_pair.sum((1, 2)).mean() / max(k * (k - 1) // 2, 1)


def frame_overlapping_pairs(target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, T, K, K) bool, True where layers i != j are both valid and their masks share a pixel
    at frame t. target (B, T, K, H, W), valid (B, K) bool."""
    m = (target > 0.5).flatten(3).float()  # (B, T, K, H*W)
    overlap = torch.einsum("btin,btjn->btij", m, m) > 0
    eye = torch.eye(m.shape[2], dtype=torch.bool, device=m.device)
    return overlap & ~eye & (valid[:, :, None] & valid[:, None, :])[:, None]


def frame_order_loss(scores: torch.Tensor, target: torch.Tensor, frame_rank: torch.Tensor,
                     valid: torch.Tensor, tau: float) -> torch.Tensor:
    """`order_loss` at every frame (issue 16): the mean over clips and frames of the sum over
    the pairs overlapping at that frame (i behind j at that frame) of
    -log sigmoid((r_ti - r_tj) / tau), divided by the K(K-1)/2 unordered pairs as there.

    scores (B, T, K) per-frame scores matched to the target channels, target (B, T, K, H, W),
    frame_rank (B, T, K) each frame's depth ranks (0 = front-most), valid (B, K) bool.
    """
    k = scores.shape[-1]
    behind = frame_rank[..., :, None] > frame_rank[..., None, :]  # (B, T, K, K) i behind j
    behind = behind & frame_overlapping_pairs(target, valid)
    diff = (scores[..., :, None] - scores[..., None, :]) / tau  # (B, T, K, K) r_ti - r_tj
    return (F.softplus(-diff) * behind).sum((2, 3)).mean() / max(k * (k - 1) // 2, 1)


def modal_loss(logits: torch.Tensor, scores: torch.Tensor, target: torch.Tensor,
               gt_rank: torch.Tensor, valid: torch.Tensor, tau: float, *,
               layers: str = "all", detach: bool = False) -> torch.Tensor:
    """Mean BCE over the pixels and frames of the scored layers between the soft modal masks
    (`oclr.modal.soft_modal` of sigmoid(logits) and scores) and the ground truth's modal
    masks (`modal_targets`: each valid layer minus the layers in front of it).

    logits (B, T, K, H, W), scores (B, K) matched to the target channels, or (B, T, K) per
    frame; target, valid as in `OCLRLoss`, gt_rank (B, K) or (B, T, K) ranks per frame. layers
    "all" scores every layer (the mean over all of them), "padded" only the invalid ones (0 when
    a batch has none); all layers still take part in the composite.
    detach: the probabilities enter without gradient, so only the scores learn from the term.
    Probabilities are clamped to [1e-5, 1 - 1e-5] before the log, as in the reference code: a
    confident wrong pixel costs at most 11.5.
    """
    prob = torch.sigmoid(logits.detach() if detach else logits)
    pred = soft_modal(prob, scores, tau).clamp(1e-5, 1 - 1e-5)
    y = modal_targets(target, gt_rank, valid)
    # written out: 2.5x faster on the CPU than F.binary_cross_entropy, same value
    bce = -(y * torch.log(pred) + (1 - y) * torch.log1p(-pred))  # (B, T, K, H, W)
    if layers == "all":
        return bce.mean()
    scored = (~valid).to(bce.dtype)[:, None, :, None, None]  # (B, 1, K, 1, 1)
    per_layer = bce[:, 0, 0].numel() * bce.shape[1]  # T * H * W
    return (bce * scored).sum() / (scored.sum() * per_layer).clamp(min=1)


def copy_loss(logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean over the clips' padded layers (matched to no object) of their BCE towards 0 on what the
    matched layers already hold: each pixel weighted by max over real objects j of target_j x
    p_j, p_j the (detached) probability of the layer matched to j. A spare query that copies an
    object its own layer holds pays for it at any depth; one that picks up an object its layer
    misses (the second object of a merged pair) does not. 0 when a batch has no padded layer.
    logits, target (B, T, K, H, W) matched channel by channel; valid (B, K) bool."""
    prob = torch.sigmoid(logits.detach())
    held = ((target > 0.5) & valid[:, None, :, None, None]) * prob
    held = held.amax(2, keepdim=True)  # (B, T, 1, H, W)
    spare = (~valid)[:, None, :, None, None]  # (B, 1, K, 1, 1)
    bce = F.softplus(logits) * held * spare  # BCE(x, 0) = softplus(x)
    weight = held.flatten(1).sum(1)  # (B,)
    taken = bce.sum((1, 3, 4)) / weight[:, None].clamp(min=1e-6)  # (B, K)
    counted = (~valid) & (weight[:, None] > 0)
    return (taken * counted).sum() / counted.sum().clamp(min=1)


def objectness_loss(logits: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """logits (B, K) objectness (`oclr.objectness`) matched to the target channels, valid (B, K)
    bool (the channels that hold an object) -> mean BCE towards valid."""
    return F.binary_cross_entropy_with_logits(logits.float(), valid.float())


def dice_loss(logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean over real objects of the soft Dice loss 1 - (2 sum(p y) + 1) / (sum(p) + sum(y) + 1)
    over a clip's frames and pixels, p = sigmoid(logits); padded layers do not count.
    logits, target (B, T, K, H, W) matched channel by channel; valid (B, K) bool."""
    p = torch.sigmoid(logits).movedim(2, 1).flatten(2)  # (B, K, T*H*W)
    y = target.movedim(2, 1).flatten(2)
    per_layer = soft_dice((p * y).sum(-1), p.sum(-1), y.sum(-1))  # (B, K)
    return (per_layer * valid).sum() / valid.sum().clamp(min=1)


class OCLRLoss(torch.nn.Module):
    """loss(logits, order, target, valid=None, gt_rank=None, frame_rank=None, visible=None)
    -> (total, terms).

    logits (B, T, K, H, W), order (B, K) model outputs, or (B, T, K) from a per-frame order head;
    target (B, T, K, H, W) float/bool amodal masks, channel k = GT layer k; valid: (B,) object
    counts or (B, K) bool (default: all layers); gt_rank (B, K) depth rank, 0 = front-most
    (default: the channel index): the clip's one order, what the global order term ranks by;
    frame_rank (B, T, K) each frame's ranks (default: gt_rank at every frame), what per-frame
    scores are ranked by (`frame_order_loss`) and what the modal term's targets are composed
    by (so the modal targets are each frame's true ones, whichever head). Predictions are matched
    to targets per clip by `matcher` (no gradient) before any term. `terms` holds floats: "amodal",
    "boundary", "order", "total", "modal" when cfg.modal_weight > 0, "dice" when
    cfg.dice_weight > 0, "visible" when visibility logits (B, T, K + 1, H, W) are given
    (ModelConfig.order_head "visible"; their layer channels are matched with the amodal ones) and
    "objectness" when objectness logits (B, K) are.

    cfg None is LossConfig(); matcher None is HungarianMatcher(dice=cfg.dice_weight): the Dice
    term, when on, also enters the matching cost, as in training (which passes that matcher in).
    """

    def __init__(self, cfg: LossConfig | None = None, *, matcher: Matcher | None = None) -> None:
        super().__init__()
        self.cfg = cfg or LossConfig()
        self.matcher = matcher if matcher is not None else HungarianMatcher(self.cfg.dice_weight)

    def forward(self, logits: torch.Tensor, order: torch.Tensor, target: torch.Tensor,
                valid: torch.Tensor | None = None, gt_rank: torch.Tensor | None = None,
                frame_rank: torch.Tensor | None = None, visible: torch.Tensor | None = None,
                progress: float = 1.0, objectness: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, dict[str, float]]:
        """`progress`: the share of training done (the trainer's step / steps), which switches
        the copy term on at cfg.copy_start; 1.0 (the default) outside training. `objectness`:
        the (B, K) logits of a model with ModelConfig.objectness, matched like the masks."""
        cfg = self.cfg
        # float32 whatever the autocast dtype: BCE sums over millions of pixels
        logits, order, target = logits.float(), order.float(), target.float()
        valid, gt_rank = _defaults(target, valid, gt_rank)
        frame_rank = _frame_defaults(target, gt_rank, frame_rank)
        perm = self.matcher(logits, target)  # (B, K)
        logits = apply_permutation(logits, perm, dim=2)
        order = apply_permutation(order, perm, dim=order.ndim - 1)
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        band = boundary_band(target, cfg.boundary_radius)
        terms = {
            "amodal": bce.mean(),
            "boundary": (bce * band).sum() / band.sum().clamp(min=1),
            "order": (frame_order_loss(order, target, frame_rank, valid, cfg.order_tau)
                      if order.ndim == 3 else
                      order_loss(order, target, gt_rank, valid, cfg.order_tau)),
        }
        total = (cfg.amodal_weight * terms["amodal"] + cfg.boundary_weight * terms["boundary"]
                 + cfg.order_weight * terms["order"])
        if cfg.modal_weight > 0:
            terms["modal"] = modal_loss(logits, order, target, frame_rank, valid, cfg.order_tau,
                                        layers=cfg.modal_layers, detach=cfg.modal_detach)
            total = total + cfg.modal_weight * terms["modal"]
        if cfg.dice_weight > 0:
            terms["dice"] = dice_loss(logits, target, valid)
            total = total + cfg.dice_weight * terms["dice"]
        if cfg.copy_weight > 0 and progress >= cfg.copy_start:
            terms["copy"] = copy_loss(logits, target, valid)
            total = total + cfg.copy_weight * terms["copy"]
        if visible is not None:
            terms["visible"] = visible_loss(visible, perm, target, frame_rank, valid)
            total = total + cfg.visible_weight * terms["visible"]
        if objectness is not None:
            matched = apply_permutation(objectness.float(), perm, dim=1)
            terms["objectness"] = objectness_loss(matched, valid)
            total = total + cfg.objectness_weight * terms["objectness"]
        floats = {name: float(v.detach()) for name, v in terms.items()}
        return total, {**floats, "total": float(total.detach())}


def _defaults(target: torch.Tensor, valid: torch.Tensor | None,
              gt_rank: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """valid as (B, K) bool and gt_rank as (B, K), filled in where not given."""
    b, _, k = target.shape[:3]
    layers = torch.arange(k, device=target.device)
    if valid is None:
        valid = torch.ones(b, k, dtype=torch.bool, device=target.device)
    elif valid.ndim == 1:
        valid = layers[None, :] < valid.to(target.device)[:, None]
    if gt_rank is None:
        gt_rank = layers.expand(b, k)
    return valid.bool(), gt_rank.to(target.device)


def _frame_defaults(target: torch.Tensor, gt_rank: torch.Tensor,
                    frame_rank: torch.Tensor | None) -> torch.Tensor:
    """frame_rank as (B, T, K) on target's device: gt_rank (B, K) at every frame when not given."""
    if frame_rank is None:
        return gt_rank[:, None].expand(-1, target.shape[1], -1)
    return frame_rank.to(target.device)
