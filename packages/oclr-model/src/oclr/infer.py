"""Inference on a whole video of any length: windows -> network -> linked identities -> masks.

Two protocols (REFERENCE.md section 5), chosen by `InferConfig.protocol`:

- "linked" (what `oclr-infer` does, and the honest one for evaluation): overlapping windows of the
  model's T frames; the channels of each window are assigned to the previous window's by
  Hungarian matching on the IoU of their masks on the shared frames (`oclr.linking`), no ground
  truth involved.
- "reference" (the reference protocol): non-overlapping windows, the last aligned to the end;
  given ground-truth masks, each window's channels are Hungarian-matched to the GT objects (so
  identities are fixed with ground-truth help). Without them (single-object sets, where all
  objects are merged anyway) each window keeps its channel order.

Each frame keeps the prediction of the one window that owns it (`oclr.windows`), with that
window's layer order (that frame's own, from a model with a per-frame order head). Outputs stay
at the model's size h x w (float16 probabilities: ~K*h*w*2 bytes a frame) until
`VideoPrediction.frame` upsamples one frame to the video's size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from layersynth.estimators import build_estimator
from PIL import Image

from oclr.davis_io import davis_palette, write_label_png
from oclr.flowcache import to_model_input
from oclr.linking import link_next, match_to_gt
from oclr.modal import compose_modal
from oclr.readout import read_network
from oclr.video_io import overlay
from oclr.windows import Window, overlapping_windows, reference_windows

PROTOCOLS = ("linked", "reference")


@dataclass(frozen=True)
class InferConfig:
    """protocol: "linked" | "reference" (see module); overlap: frames shared by consecutive
    windows under "linked" (None: a third of the window, 10 of 30: frames enough to match
    identities on, for half as many forwards again as the frames need);
    batch: windows per forward pass; threshold: the amodal probability above which a pixel is
    the object's."""

    protocol: str = "linked"
    overlap: int | None = None
    batch: int = 1
    threshold: float = 0.5
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, got {self.protocol!r}")
        if self.batch < 1 or (self.overlap or 0) < 0 or not 0 < self.threshold < 1:
            raise ValueError(f"bad inference settings: {self}")


@dataclass(frozen=True, eq=False)
class VideoPrediction:
    """probs (K, T, h, w) float16 amodal probabilities, channels linked across windows;
    order (T, K) float32 layer-order scores (lower = nearer) of the window owning each frame."""

    probs: np.ndarray
    order: np.ndarray
    windows: list[Window]
    perms: list[np.ndarray]
    threshold: float = 0.5

    def modal(self) -> np.ndarray:
        """(T, h, w) uint8 modal labels at the model size: 0 background, k + 1 = object k."""
        labels = compose_modal(self.probs.transpose(1, 0, 2, 3).astype(np.float32), self.order,
                               self.threshold)
        return labels.astype(np.uint8)

    def frame(self, t: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Frame t at height x width: (modal labels (H, W) uint8, amodal (K, H, W) bool).

        Probabilities are upsampled bilinearly before thresholding (smoother than resizing masks).
        """
        prob = torch.from_numpy(self.probs[:, t].astype(np.float32))[None]  # (1, K, h, w)
        if prob.shape[-2:] != (height, width):
            prob = F.interpolate(prob, size=(height, width), mode="bilinear", align_corners=False)
        on = prob[0].numpy() > self.threshold
        return paint_layers(on, self.order[t]), on


def paint_layers(on: np.ndarray, order: np.ndarray) -> np.ndarray:
    """`compose_modal` for one frame, as numpy painting back to front: on (K, H, W) bool, order
    (K,) -> (H, W) uint8 labels; ties go to the lower channel, as there. Same result, ~15x
    faster at 480 x 854 (per-frame upsampled composition dominated writing otherwise)."""
    labels = np.zeros(on.shape[1:], np.uint8)
    for k in np.argsort(order, kind="stable")[::-1]:
        labels[on[k]] = k + 1
    return labels


def plan_windows(n_frames: int, size: int, cfg: InferConfig) -> list[Window]:
    """The windows `cfg.protocol` uses for a video of `n_frames` and a model of `size` frames."""
    if cfg.protocol == "reference":
        return reference_windows(n_frames, size)
    overlap = size // 3 if cfg.overlap is None else cfg.overlap
    return overlapping_windows(n_frames, size, min(overlap, size - 1))


def infer_flow(model: torch.nn.Module, flow: np.ndarray, cfg: InferConfig,
               gt_masks: np.ndarray | None = None, has_gt: np.ndarray | None = None,
               progress: Callable[[Iterable, int], Iterable] | None = None) -> VideoPrediction:
    """Run `model` over a whole video's network input.

    flow: (T, 4, h, w) float32 (e.g. from `oclr.flowcache.flow_input_for`, may be memory-mapped);
    gt_masks: (G, T, h, w) bool ground-truth objects at the model size, has_gt (T,) bool frames
    that have ground truth; both used only by protocol "reference" (optional there).
    progress(items, total) may wrap the loop over windows (e.g. `layersynth.report.progress`).
    """
    n = len(flow)
    windows = plan_windows(n, model.cfg.frames, cfg)
    k = model.cfg.num_objects
    probs = np.zeros((k, n, *flow.shape[-2:]), np.float16)
    order = np.zeros((n, k), np.float32)
    perms, prev = [], None
    outputs = run_windows(model, flow, windows, cfg)
    if progress is not None:
        outputs = progress(outputs, len(windows))
    for window, (prob, score) in zip(windows, outputs, strict=True):
        perm = _permutation(cfg, window, prob, prev, gt_masks, has_gt)
        prob, score = prob[perm], score[..., perm]
        probs[:, window.own_start:window.own_stop] = prob[:, window.owned_slots]
        order[window.own_start:window.own_stop] = owned_scores(score, window)
        perms.append(perm)
        prev = (window, prob)
    return VideoPrediction(probs, order, windows, perms, cfg.threshold)


def owned_scores(score: np.ndarray, window: Window) -> np.ndarray:
    """The order scores of the frames `window` owns: score (K,) (one per window, the same at
    every frame) or (size, K) per frame (ModelConfig.order_head "frame") -> (K,) or (owned, K),
    either of which fills VideoPrediction.order's owned rows."""
    return score if score.ndim == 1 else score[window.owned_slots]


def _permutation(cfg, window, prob, prev, gt_masks, has_gt) -> np.ndarray:
    if cfg.protocol == "reference":
        if gt_masks is None:
            return np.arange(len(prob))
        idx = window.indices
        return match_to_gt(prob, gt_masks[:, idx], None if has_gt is None else has_gt[idx])
    if prev is None:
        return np.arange(len(prob))
    return link_next(prev[0], prev[1], window, prob)


@torch.no_grad()
def run_windows(model: torch.nn.Module, flow: np.ndarray, windows: list[Window], cfg: InferConfig
                ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield, per window, (amodal probabilities (K, size, h, w) float32, order scores (K,), or
    (size, K) per frame from a model that reads one order per frame, `oclr.readout`)."""
    device = torch.device(cfg.device)
    for i in range(0, len(windows), cfg.batch):
        group = windows[i:i + cfg.batch]
        x = np.stack([np.asarray(flow[w.indices], dtype=np.float32) for w in group])
        # (B, S, K, h, w), (B, [S,] K)
        probs, order = read_network(model, torch.from_numpy(x).to(device), cfg.threshold)
        probs = probs.permute(0, 2, 1, 3, 4).cpu().numpy()
        yield from zip(probs, order.cpu().numpy(), strict=True)


def infer_video(model: torch.nn.Module, frames: np.ndarray, cfg: InferConfig | None = None,
                estimator=None) -> tuple[np.ndarray, np.ndarray, VideoPrediction]:
    """Masks for an in-memory video: frames (T, H, W, 3) uint8, T >= 2.

    Returns modal labels (T, H, W) uint8 (0 background, k + 1 = object k), amodal (K, T, H, W) bool
    and the `VideoPrediction` at the model size. Flow: `estimator` (a `layersynth.estimators`
    estimator), default DIS. For long videos stream instead (`oclr.flowcache`, `infer_flow`).
    """
    cfg = cfg or InferConfig()
    if estimator is None:
        estimator = build_estimator("dis")
    flow = to_model_input(estimator.estimate(frames), model.cfg.height, model.cfg.width)
    pred = infer_flow(model, flow, cfg)
    h, w = frames.shape[1:3]
    per_frame = [pred.frame(t, h, w) for t in range(len(frames))]
    labels = np.stack([m for m, _ in per_frame])
    amodal = np.stack([a for _, a in per_frame], axis=1)
    return labels, amodal, pred


def save_prediction(source, pred: VideoPrediction, masks_dir: Path, amodal_dir: Path | None = None,
                    writer=None, progress: Callable[[Iterable, int], Iterable] | None = None
                    ) -> None:
    """Write each frame of `source` (an `oclr.video_io.FrameSource`) at its own size.

    masks_dir/<frame>.png: DAVIS palette PNG of modal labels (id k + 1 = object k);
    amodal_dir/<k>_<frame>.png: binary (0/255) PNG of object k's amodal mask, k from 0;
    writer: an `oclr.video_io.VideoWriter` receiving the frame with the modal labels overlaid.
    """
    palette = np.frombuffer(davis_palette(), np.uint8).reshape(256, 3)
    frames = enumerate(source.iter())
    if progress is not None:
        frames = progress(frames, len(source))
    for t, (name, rgb) in frames:
        labels, amodal = pred.frame(t, source.height, source.width)
        write_label_png(Path(masks_dir) / f"{name}.png", labels)
        if amodal_dir is not None:
            for k, mask in enumerate(amodal):
                png = Path(amodal_dir) / f"{k}_{name}.png"
                # Level 1: binary masks barely compress better at 6, and write 5x slower.
                Image.fromarray(mask.astype(np.uint8) * 255).save(png, compress_level=1)
        if writer is not None:
            writer.append(overlay(rgb, labels, palette))
