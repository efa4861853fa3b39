"""The reference evaluation's ground-truth-assisted protocols for real benchmarks.

How the paper's code turns window outputs into scored masks (REFERENCE.md section 10), written
anew. Both protocols cut a video as that code does (`reference_plan`): non-overlapping windows of
the model's T frames, the last aligned to the end; where that last window overlaps the one before
it, the last window's masks are the ones kept (the reference writes each window's masks in turn,
so the last overwrites).

- "reference" (multi-object sets, DAVIS2017-motion): each window's amodal channels are composed
  into modal masks (`oclr.modal.compose_modal`, front-most wins); one Hungarian assignment matches
  channels to the GT objects, maximising the sum over matched pairs of the mean over the window's
  annotated frames of the modal IoU; the channel matched to GT object j is written as id j + 1.
  On merged sets (every object one foreground) the channel order changes nothing and is kept.
- "single-channel" (DAVIS 2016 and MoCA): the same step against the one GT foreground (MoCA: its
  annotated box, filled) picks one channel per window, and only that channel's modal mask is
  written (id 1); everything else is background.

IoU per frame as J: |P n G| / |P u G|, 1 when both masks are empty; void pixels count as
background. A window without an annotated frame keeps its channel order (channel 0 for
"single-channel"); its frames carry no ground truth, so they are not scored either.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oclr.assignment import optimal_assignment
from oclr.infer import InferConfig, VideoPrediction, owned_scores, run_windows
from oclr.modal import compose_modal
from oclr.windows import Window, reference_windows

GT_PROTOCOLS = ("reference", "single-channel")
# Equal scores (e.g. no channel overlaps the object): keep the window's own channel order.
_TIE_BREAK = 1e-6


def reference_plan(n_frames: int, size: int) -> list[Window]:
    """`oclr.windows.reference_windows`, but the end-aligned last window owns all its frames and
    the window before it stops where the last begins (the reference's overwrite order)."""
    windows = reference_windows(n_frames, size)
    if len(windows) < 2:
        return windows
    before, last = windows[-2], windows[-1]
    windows[-2] = Window(before.start, size, n_frames, before.own_start, last.start)
    windows[-1] = Window(last.start, size, n_frames, last.start, last.stop)
    return windows


def frame_iou(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """pred (K, S, ...) and gt (G, S, ...) bool -> (K, G, S) float64 IoU per frame, 1 where both
    masks are empty."""
    p = pred.reshape(*pred.shape[:2], -1).astype(np.float64)
    g = gt.reshape(*gt.shape[:2], -1).astype(np.float64)
    inter = np.einsum("ksn,gsn->kgs", p, g)
    union = p.sum(-1)[:, None] + g.sum(-1)[None] - inter
    return np.divide(inter, union, out=np.ones_like(inter), where=union > 0)


def window_modal(prob: np.ndarray, score: np.ndarray, threshold: float) -> np.ndarray:
    """One window's modal mask per channel: prob (K, S, h, w), score (K,) or (S, K) per frame
    -> (K, S, h, w) bool."""
    labels = compose_modal(prob.transpose(1, 0, 2, 3), score, threshold)  # (S, h, w)
    return labels[None] == np.arange(1, len(prob) + 1)[:, None, None, None]


def match_modal(modal: np.ndarray, gt: np.ndarray | None, has_gt: np.ndarray) -> np.ndarray:
    """(K,) permutation putting the channel matched to GT object j at position j (then the rest
    ascending), by the frame-mean modal IoU over annotated frames: modal (K, S, h, w) bool,
    gt (G, S, h, w) bool or None, has_gt (S,) bool. Identity when nothing can be matched."""
    k = len(modal)
    if gt is None or len(gt) == 0 or not has_gt.any():
        return np.arange(k)
    score = frame_iou(modal[:, has_gt], gt[:, has_gt]).mean(-1)  # (K, G)
    channels, objects = optimal_assignment(score, maximize=True, prefer_diagonal=_TIE_BREAK)
    matched = channels[np.argsort(objects)]
    return np.concatenate([matched, np.setdiff1d(np.arange(k), matched)])


@dataclass(frozen=True, eq=False)
class ChannelPrediction:
    """The "single-channel" output: `video` the windows' channels as the model gave them,
    `channel` (T,) int the channel kept at each frame."""

    video: VideoPrediction
    channel: np.ndarray

    def frame(self, t: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """(labels (H, W) uint8: 1 where the kept channel is visible, amodal (1, H, W) bool)."""
        labels, amodal = self.video.frame(t, height, width)
        kept = int(self.channel[t])
        return (labels == kept + 1).astype(np.uint8), amodal[kept:kept + 1]


def infer_gt_assisted(model, flow: np.ndarray, cfg: InferConfig, gt: dict[str, np.ndarray | None],
                      has_gt: np.ndarray) -> dict[str, VideoPrediction | ChannelPrediction]:
    """Run `model` once over `reference_plan` windows and make each protocol named in `gt`.

    flow (T, 4, h, w) float32; gt: {protocol: (G, T, h, w) bool GT at the model size, or None};
    has_gt (T,) bool. Returns {protocol: prediction with `.frame(t, H, W)`}."""
    n, k = len(flow), model.cfg.num_objects
    windows = reference_plan(n, model.cfg.frames)
    probs = np.zeros((k, n, *flow.shape[-2:]), np.float16)
    order = np.zeros((n, k), np.float32)
    perms: dict[str, list[np.ndarray]] = {p: [] for p in gt}
    for window, (prob, score) in zip(windows, run_windows(model, flow, windows, cfg), strict=True):
        modal, idx = window_modal(prob, score, cfg.threshold), window.indices
        for protocol, masks in gt.items():
            perms[protocol].append(match_modal(modal, None if masks is None else masks[:, idx],
                                               has_gt[idx]))
        probs[:, window.own_start:window.own_stop] = prob[:, window.owned_slots]
        order[window.own_start:window.own_stop] = owned_scores(score, window)
    raw = VideoPrediction(probs, order, windows, [np.arange(k)] * len(windows), cfg.threshold)
    return {p: _finish(p, raw, perms[p]) for p in gt}


def _finish(protocol: str, raw: VideoPrediction, perms: list[np.ndarray]):
    if protocol == "single-channel":
        channel = np.zeros(len(raw.order), np.int64)
        for window, perm in zip(raw.windows, perms, strict=True):
            channel[window.own_start:window.own_stop] = perm[0]
        return ChannelPrediction(raw, channel)
    probs, order = raw.probs.copy(), raw.order.copy()
    for window, perm in zip(raw.windows, perms, strict=True):
        own = slice(window.own_start, window.own_stop)
        probs[:, own], order[own] = raw.probs[perm, own], raw.order[own][:, perm]
    return VideoPrediction(probs, order, raw.windows, perms, raw.threshold)


def boxes_at_model_size(boxes: dict, names: list[str], frame_hw: tuple[int, int],
                        model_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """MoCA boxes as filled masks: boxes {frame name: BoxAnnotation} in frame pixels, frame_hw
    the frames' (H, W) -> ((1, T, h, w) bool, has_gt (T,) bool)."""
    (fh, fw), (h, w) = frame_hw, model_hw
    masks = np.zeros((1, len(names), h, w), bool)
    for t, name in enumerate(names):
        if name in boxes:
            x0, y0, x1, y1 = boxes[name].box
            masks[0, t, round(y0 * h / fh):round(y1 * h / fh),
                  round(x0 * w / fw):round(x1 * w / fw)] = True
    return masks, np.array([name in boxes for name in names])
