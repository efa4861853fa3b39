"""Syn-val evaluation: modal and amodal J and depth-order accuracy on layersynth shards.

Per clip, the K predicted channels are Hungarian-matched to the clip's real objects, maximising the
amodal J being reported (padded empty layers are not objects and are never scored). Then, for each
real object:

- amodal J: the mean over frames of IoU(sigmoid(logit) > 0.5, GT amodal mask); a frame where both
  masks are empty scores 1 (the DAVIS convention);
- modal J: the same with the modal masks: the prediction's is `oclr.modal.compose_modal` of the
  amodal probabilities and order scores (front-most channel wins), the GT's the shard's labels.

Overall J is the mean over all objects of all clips; `by_objects` splits it by the clip's number of
objects. Order accuracy counts pairs of GT objects whose amodal masks overlap in some frame: correct
when the matched channels' scores put them in the clip's GT order (lower score = nearer; the clip's
order is the one held at the most frames, `oclr.data.clip_orders`; a per-frame model's scores are
averaged over the frames for it). Per-frame order accuracy counts (frame, pair) where the pair
overlaps at that frame: correct when that frame's scores (a global model's one score at every
frame) put them in that frame's GT order. Modal J composes each frame by its own scores when the
model gives them per frame (ModelConfig.order_head "frame").

`merged` counts under-segmentation: pairs of GT objects whose best-covering predicted channel (the
one holding the largest share of the object's pixels over the clip) is the same, split into pairs
whose masks overlap in some frame (those order accuracy counts) and pairs always apart.

The paper's figures (85.6 modal / 84.7 amodal) are averaged another way (REFERENCE.md section 10),
reported beside ours under `paper`: modal and amodal each get their own Hungarian assignment per
clip (amodal: the one above; modal: the composed modal channels matched to the GT modal masks by
their mean over frames of IoU), each frame's value is the mean IoU over the clip's objects, and the
figure is the mean over all frames of all clips pooled. A 1-object clip weighs as much per frame as
a 3-object clip, where the per-object mean gives it a third of the weight.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from oclr.tables import Column, mean_or_nan, percent, pooled_means, table_header, table_row

if TYPE_CHECKING:
    import torch

# torch, scipy and the model load inside the functions: `oclr-eval` imports this module to add its
# options, and `--help` should not wait seconds for them (torch ~3 s, scipy.optimize ~0.7 s).


def pairwise_frame_iou(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """IoU of every (pred i, gt j) pair per frame: pred (I, T, N) bool, gt (J, T, N) bool
    -> (I, J, T) float64, 1 where both masks are empty."""
    import torch  # not at module top: `oclr-eval --help` imports this module


    p, g = pred.double(), gt.double()
    inter = torch.einsum("itn,jtn->ijt", p, g)
    union = p.sum(-1)[:, None] + g.sum(-1)[None] - inter
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(inter))


def match_channels_by_j(j_matrix: np.ndarray) -> np.ndarray:
    """Predicted channels matched to GT objects maximising the total mean J: (K_pred, n) mean-J
    matrix, K_pred >= n -> (n,) int64 predicted channel of each GT object."""
    from oclr.assignment import row_for_each_column  # scipy.optimize: 0.7 s, not for --help

    return row_for_each_column(j_matrix, maximize=True)


@dataclass
class ClipScore:
    """Scores of one clip: per GT object (front to back) amodal and modal J, and order pairs;
    `paper_amodal` / `paper_modal` (T,) per frame the mean IoU over the clip's objects, each
    under its own matching (the paper's averaging)."""

    clip_id: str
    n_objects: int
    amodal_j: list[float]
    modal_j: list[float]
    pairs: int
    pairs_correct: int
    paper_amodal: list[float] = field(default_factory=list)
    paper_modal: list[float] = field(default_factory=list)
    frame_pairs: int = 0  # (frame, pair) overlapping at that frame
    frame_pairs_correct: int = 0
    # pairs of GT objects whose masks share a pixel in some frame ("overlapping") or never
    # ("apart"), and how many of each have one predicted channel covering most of both
    merged: dict = field(default_factory=dict)


def score_clip(clip_id: str, prob: torch.Tensor, scores: torch.Tensor, amodal: torch.Tensor,
               modal: torch.Tensor, n_objects: int, gt_rank: torch.Tensor,
               frame_rank: torch.Tensor | None = None) -> ClipScore:
    """prob (T, K, H, W) amodal probabilities, scores (K,) order scores or (T, K) per frame; GT
    amodal (T, K, H, W) (channels past n_objects are padding), modal (T, H, W) labels, gt_rank
    (K,) the clip's ranks, 0 = front-most, frame_rank (T, K) each frame's (default: gt_rank)."""
    import torch  # torch (also under oclr.modal) loads when scoring, not for `oclr-eval --help`

    from oclr.modal import compose_modal

    n = n_objects
    objects = torch.arange(n)
    pred = (prob > 0.5).movedim(1, 0).flatten(2)  # (K, T, H*W)
    gt = (amodal[:, :n] > 0.5).movedim(1, 0).flatten(2)  # (n, T, H*W)
    j_amodal = pairwise_frame_iou(pred, gt)  # (K, n, T)
    perm = torch.as_tensor(match_channels_by_j(j_amodal.mean(-1).numpy()))
    labels = compose_modal(prob, scores)  # (T, H, W), k + 1 = channel k
    pred_modal = torch.stack([labels == k + 1 for k in range(prob.shape[1])]).flatten(2)
    gt_modal = torch.stack([modal == j + 1 for j in range(n)]).flatten(2)  # (n, T, H*W)
    j_modal = pairwise_frame_iou(pred_modal, gt_modal)  # (K, n, T)
    modal_perm = torch.as_tensor(match_channels_by_j(j_modal.mean(-1).numpy()))
    amodal_series = j_amodal[perm, objects]  # (n, T)
    clip_scores = scores if scores.ndim == 1 else scores.mean(0)  # (K,)
    pairs, correct = order_pairs(gt, clip_scores[perm], gt_rank[:n])
    frame_rank = gt_rank.expand(len(prob), -1) if frame_rank is None else frame_rank
    per_frame = scores[..., perm].expand(len(prob), -1)  # (T, n)
    frame_pairs, frame_correct = frame_order_pairs(gt, per_frame, frame_rank[:, :n])
    return ClipScore(clip_id, n, amodal_series.mean(-1).tolist(),
                     j_modal[perm, objects].mean(-1).tolist(), pairs, correct,
                     paper_amodal=amodal_series.mean(0).tolist(),
                     paper_modal=j_modal[modal_perm, objects].mean(0).tolist(),
                     frame_pairs=frame_pairs, frame_pairs_correct=frame_correct,
                     merged=merged_pairs(pred, gt))


MERGED_KEYS = ("overlapping", "overlapping_pairs", "apart", "apart_pairs")  # merged_pairs' counts


def merged_pairs(pred: torch.Tensor, gt: torch.Tensor) -> dict[str, int]:
    """How often one predicted channel holds two objects: each GT object's best-covering channel
    is the one holding the largest share of its pixels over the clip; a pair is merged when both
    objects have the same one (an object no channel touches has none, so a missed object is never
    merged). pred (K, T, N) bool, gt (n, T, N) bool ->
    {"overlapping": merged pairs among the pairs whose masks share a pixel in some frame,
    "overlapping_pairs": those pairs, "apart", "apart_pairs": the same for the other pairs}."""
    import torch  # not at module top: `oclr-eval --help` imports this module

    p, g = pred.flatten(1).double(), gt.flatten(1).double()
    cover = (p @ g.T) / g.sum(1).clamp(min=1)  # (K, n) share of object j in channel k
    best = torch.where(cover.amax(0) > 0, cover.argmax(0), -1 - torch.arange(len(g)))  # (n,)
    overlap = (g @ g.T) > 0
    out = dict.fromkeys(MERGED_KEYS, 0)
    for i in range(len(g)):
        for j in range(i + 1, len(g)):
            kind = "overlapping" if overlap[i, j] else "apart"
            out[f"{kind}_pairs"] += 1
            out[kind] += int(best[i] == best[j])
    return out


def order_pairs(gt: torch.Tensor, matched_scores: torch.Tensor,
                gt_rank: torch.Tensor) -> tuple[int, int]:
    """(pairs, correct) over GT objects i < j whose masks share a pixel in some frame.

    gt (n, T, N) bool masks, matched_scores (n,) the scores of their matched channels."""
    m = gt.flatten(1).double()
    overlap = (m @ m.T) > 0
    pairs = correct = 0
    for i in range(len(m)):
        for j in range(i + 1, len(m)):
            if overlap[i, j] and gt_rank[i] != gt_rank[j]:
                pairs += 1
                nearer_first = bool(matched_scores[i] < matched_scores[j])
                correct += nearer_first == bool(gt_rank[i] < gt_rank[j])
    return pairs, correct


def frame_order_pairs(gt: torch.Tensor, matched_scores: torch.Tensor,
                      frame_rank: torch.Tensor) -> tuple[int, int]:
    """(pairs, correct) over (frame t, GT objects i < j) whose masks share a pixel at frame t
    and whose ranks differ there; correct when the scores at t put them in t's order.

    gt (n, T, N) bool masks, matched_scores (T, n) their matched channels' scores per frame,
    frame_rank (T, n) the GT ranks per frame (0 = front-most)."""
    import torch  # not at module top: `oclr-eval --help` imports this module

    m = gt.double()
    overlap = torch.einsum("itn,jtn->tij", m, m) > 0  # (T, n, n)
    n = gt.shape[0]
    upper = torch.ones(n, n, dtype=torch.bool).triu(1)
    nearer = frame_rank[:, :, None] < frame_rank[:, None, :]  # (T, n, n) i nearer than j
    counted = overlap & upper & (frame_rank[:, :, None] != frame_rank[:, None, :])
    said = matched_scores[:, :, None] < matched_scores[:, None, :]
    return int(counted.sum()), int((counted & (said == nearer)).sum())


@dataclass
class ScoreBoard:
    """Accumulates ClipScores; `summary()` is the JSON object `oclr-eval --shards` prints."""

    clips: list[ClipScore] = field(default_factory=list)

    def add(self, clip: ClipScore) -> None:
        self.clips.append(clip)

    def summary(self) -> dict:
        out = _clip_summary(self.clips)
        out["paper"]["averaging"] = PAPER_AVERAGING  # said once, not per group and clip
        groups = defaultdict(list)
        for c in self.clips:
            groups[c.n_objects].append(c)
        out["by_objects"] = {str(k): _clip_summary(groups[k]) for k in sorted(groups)}
        out["sequences"] = {c.clip_id: {"n_objects": c.n_objects, "amodal_j": c.amodal_j,
                                        "modal_j": c.modal_j, "paper": _paper_figures([c])}
                            for c in self.clips}
        return out


def _clip_summary(clips: list[ClipScore]) -> dict:
    """Modal and amodal J pooled over all objects of the clips, order accuracy over all pairs."""
    objects = [{"modal_j": m, "amodal_j": a}
               for c in clips for a, m in zip(c.amodal_j, c.modal_j, strict=True)]
    pairs = sum(c.pairs for c in clips)
    correct = sum(c.pairs_correct for c in clips)
    frame_pairs = sum(c.frame_pairs for c in clips)
    frame_correct = sum(c.frame_pairs_correct for c in clips)
    return {
        **pooled_means(objects, ("modal_j", "amodal_j")),
        "order_acc": correct / pairs if pairs else float("nan"),
        "order_pairs": pairs,
        "frame_order_acc": frame_correct / frame_pairs if frame_pairs else float("nan"),
        "frame_order_pairs": frame_pairs,
        "objects": len(objects),
        "clips": len(clips),
        "merged": {key: sum(c.merged.get(key, 0) for c in clips) for key in MERGED_KEYS},
        "paper": _paper_figures(clips),
    }


def _paper_figures(clips: list[ClipScore]) -> dict:
    """The paper's averaging: per-frame values (mean over a clip's objects) pooled over all frames
    of all clips, modal and amodal each under its own matching."""
    modal = [v for c in clips for v in c.paper_modal]
    amodal = [v for c in clips for v in c.paper_amodal]
    return {"modal_j": mean_or_nan(modal), "amodal_j": mean_or_nan(amodal), "frames": len(amodal)}


PAPER_AVERAGING = ("per frame: mean IoU over the clip's objects; pooled over all frames of all "
                   "clips; modal and amodal matched separately")


def score_loader(model: torch.nn.Module, loader, clip_ids: list[str], device: torch.device,
                 *, amp: bool = False) -> dict:
    """Run `model` over a loader of ShardClips batches (in order) and score every clip."""
    import torch  # not at module top: `oclr-eval --help` imports this module

    from oclr.data import loader_batches
    from oclr.readout import read_network

    board, seen = ScoreBoard(), 0
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for batch in loader_batches(loader):
            flow = batch["flow"].to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                prob, scores = read_network(model, flow)
            prob, scores = prob.cpu(), scores.cpu()
            for b in range(flow.shape[0]):
                board.add(score_clip(clip_ids[seen], prob[b], scores[b], batch["amodal"][b],
                                     batch["modal"][b], int(batch["n_objects"][b]),
                                     batch["order"][b], batch["frame_order"][b]))
                seen += 1
    model.train(was_training)
    return board.summary()


def evaluate_shards(checkpoint_or_model, shards_dir: str | os.PathLike, *,
                    flow: str | None = None, device: str = "cpu", batch: int = 4,
                    limit: int | None = None, workers: int = 0,
                    order_readout: str | None = None, spares: str | None = None) -> dict:
    """Syn-val scores of a checkpoint path (or a model) on a layersynth folder.

    `flow` None (the default) scores on the flow the checkpoint's run trained on when the shards
    hold it, else on the best flow they hold (`pick_flow`); "flow" and "flow_choice" in the
    result say which and why. The result also holds "modal_j", "amodal_j", "order_acc",
    "order_pairs", "frame_order_acc", "frame_order_pairs", "objects", "clips", "merged":
    {"overlapping", "overlapping_pairs", "apart", "apart_pairs"} (`merged_pairs`), "paper":
    {"modal_j", "amodal_j", "frames", "averaging"}, "by_objects": {"1": {...}, ...} and
    "sequences": {clip id: {...}}; J values are fractions in [0, 1]. `limit` scores only the
    first clips (in id order). `order_readout` ("head", "occlusion", "occlusion_frame";
    `oclr.readout`) reads the order another way than the checkpoint's config says; None keeps
    it; `spares` ("drop", "behind", "keep") does the same for what is done with the layers an
    objectness head calls spare (ValueError for a network without one). "order_readout" in the
    result says which order was read, "spares" what was done with the spare layers (None
    without the head)."""
    import torch  # these four need torch, which `oclr-eval --help` should not load

    from oclr.checkpoint import load_trained
    from oclr.data import ClipShape, ShardClips, eval_loader
    from oclr.distributed import check_device
    from oclr.readout import order_source, spare_reading, with_reading

    dev = check_device(device)
    model, trained = checkpoint_or_model, None
    if not isinstance(model, torch.nn.Module):
        model, trained = load_trained(checkpoint_or_model, dev)
    model = with_reading(model.to(dev), order_readout, spares)
    flow, choice = pick_flow(flow, trained, shards_dir)
    dataset = ShardClips(shards_dir, ClipShape.of_model(model.cfg), flow=flow)
    loader = eval_loader(dataset, batch=batch, workers=workers, limit=limit)
    result = score_loader(model, loader, dataset.clip_ids, dev, amp=dev.type == "cuda")
    return {"checkpoint": str(checkpoint_or_model) if not isinstance(
        checkpoint_or_model, torch.nn.Module) else None, "shards": str(shards_dir), "flow": flow,
        "flow_choice": choice, "order_readout": order_source(model.cfg),
        "spares": spare_reading(model.cfg), **result}


def pick_flow(asked: str | None, trained: str | None,
              shards_dir: str | os.PathLike) -> tuple[str, str]:
    """(flow, why) for scoring: the one asked for; else the one the checkpoint's run trained on,
    when the shards hold it (a model scores best on the kind of flow it learnt from); else the
    best the shards hold (`oclr.data.FLOW_PREFERENCE`: raft, dis, gt), the why then naming what the
    checkpoint trained on. A folder that cannot be read keeps "gt" for the dataset's own checks
    to name the problem."""
    from oclr.data import FLOW_PREFERENCE, held_flows

    if asked is not None:
        return asked, "asked for"
    held = held_flows(shards_dir)  # one read of the folder
    if trained in held:
        return trained, "the flow the checkpoint was trained on"
    best = next((name for name in FLOW_PREFERENCE if name in held), "gt")
    if trained is None:
        return best, ("the best flow the shards hold (the checkpoint does not say what it "
                      "trained on)")
    return best, (f"{TRAINED_FLOW_MISSING}; the checkpoint was trained on {trained} flow, "
                  f"which {shards_dir} lacks")


# The start of pick_flow's why when the checkpoint's own flow is not in the shards (the case
# `oclr-eval` warns about).
TRAINED_FLOW_MISSING = "the best flow the shards hold"


_COLUMNS = (Column("objects", 8), Column("clips", 6), Column("modal J", 8), Column("amodal J", 9),
            Column("order acc", 10), Column("pairs", 6), Column("per-frame", 10),
            Column("pairs", 6), Column("|", 1), Column("frames", 7), Column("modal J", 8),
            Column("amodal J", 9))
_GROUPS = f"{'per object (this project)':>69} | {'per frame, pooled (paper)':>26}"


def format_table(result: dict) -> str:
    """The readable table printed before the JSON: one row overall, one per object count; the
    project's per-object figures on the left, the paper's per-frame ones on the right; then the
    merged-layer counts when the result has them."""
    rows = [_GROUPS, table_header(_COLUMNS)]
    entries = [("all", result)] + [(k, v) for k, v in result["by_objects"].items()]
    for name, r in entries:
        paper = r["paper"]
        rows.append(table_row(_COLUMNS, [name, r["clips"], percent(r["modal_j"]),
                                         percent(r["amodal_j"]), percent(r["order_acc"]),
                                         r["order_pairs"], percent(r["frame_order_acc"]),
                                         r["frame_order_pairs"], "|", paper["frames"],
                                         percent(paper["modal_j"]),
                                         percent(paper["amodal_j"])]))
    merged = result.get("merged")
    if merged:
        rows.append(f"merged layers (one channel the best cover of both objects of a pair): "
                    f"{merged['overlapping']} of {merged['overlapping_pairs']} overlapping pairs, "
                    f"{merged['apart']} of {merged['apart_pairs']} apart")
    return "\n".join(rows)
