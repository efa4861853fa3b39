"""DAVIS region similarity J and boundary F, per-object statistics and unsupervised matching.

Definitions follow the official DAVIS 2017 evaluation (REFERENCE.md section 5), written anew:

- Label images are (H, W) uint8: 0 background, k = object k, 255 void (ground truth only).
- J per frame: |P & G| / |P | G| with void pixels excluded from both; 1 when the union is empty.
- F per frame: void pixels zeroed in both masks; 1-px boundary maps (`boundary_map`); a boundary
  pixel of one mask matches if it lies within the disk of radius `boundary_tolerance(H, W)`
  (8 px at 480 x 854) of the other mask's boundary. P = matched predicted / predicted boundary
  pixels, R = matched GT / GT boundary pixels; P = 1, R = 0 for an empty prediction against a
  non-empty GT (the reverse: P = 0, R = 1); F = 1 when both are empty; F = 2PR / (P + R), 0 when
  P + R = 0.
- Statistics of a per-frame series: mean, recall (fraction of frames > 0.5), decay (mean of the
  first of 4 bins minus mean of the last).
- Unsupervised matching: one Hungarian assignment per sequence maximising the frame-averaged
  (J + F) / 2 of each (predicted id, GT object) pair; predicted ids are padded with empty masks up
  to the number of GT objects, so an unmatched GT object scores 0 on every frame where it is
  visible (and 1 where it is absent, as DAVIS scores two empty masks).

Speed: the pairwise scores of one frame are computed from per-object crops (bounding box of the
object, its boundary points and its dilated boundary), so each mask is dilated once per frame
however many pairs it enters, and only over its own box.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import cv2
import numpy as np

from oclr.assignment import row_for_each_column

VOID = 255
BOUNDARY_FRACTION = 0.008  # of the image diagonal: the DAVIS boundary tolerance
RECALL_THRESHOLD = 0.5
DECAY_BINS = 4


def boundary_tolerance(height: int, width: int) -> int:
    """DAVIS boundary matching radius in pixels: ceil(0.008 * diagonal); 8 at 480 x 854."""
    return int(math.ceil(BOUNDARY_FRACTION * math.hypot(height, width)))


def disk(radius: int) -> np.ndarray:
    """(2r+1, 2r+1) uint8 disk, 1 where x^2 + y^2 <= r^2: equal to skimage.morphology.disk(r)."""
    y, x = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    return (x * x + y * y <= radius * radius).astype(np.uint8)


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """1-px boundary of a binary mask (..., H, W) -> bool (..., H, W), as DAVIS's seg2bmap.

    A pixel is on the boundary when it differs from its right, lower or lower-right neighbour;
    the last row compares with the right neighbour only, the last column with the lower one
    only, and the bottom-right pixel is never on the boundary.
    """
    m = np.asarray(mask, dtype=bool)
    b = np.zeros_like(m)
    b[..., :, :-1] |= m[..., :, :-1] ^ m[..., :, 1:]
    b[..., :-1, :] |= m[..., :-1, :] ^ m[..., 1:, :]
    b[..., :-1, :-1] |= m[..., :-1, :-1] ^ m[..., 1:, 1:]
    return b


def f_from_counts(n_pred: int, n_gt: int, pred_hits: int, gt_hits: int) -> float:
    """F from boundary pixel counts, with the DAVIS conventions for empty boundaries."""
    if n_pred == 0 and n_gt == 0:
        return 1.0
    if n_pred == 0:
        precision, recall = 1.0, 0.0
    elif n_gt == 0:
        precision, recall = 0.0, 1.0
    else:
        precision, recall = pred_hits / n_pred, gt_hits / n_gt
    if precision + recall == 0:
        return 0.0
    return 2.0 * precision * recall / (precision + recall)


def jaccard(pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None = None) -> np.ndarray:
    """J of binary masks (..., H, W) -> (...) float64; void pixels (bool, same shape) excluded."""
    p, g = np.asarray(pred, bool), np.asarray(gt, bool)
    keep = np.ones_like(p) if void is None else ~np.asarray(void, bool)
    inter = np.count_nonzero(p & g & keep, axis=(-2, -1))
    union = np.count_nonzero((p | g) & keep, axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union == 0, 1.0, inter / np.maximum(union, 1))


def boundary_f(
    pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None = None, radius: int | None = None
) -> float:
    """F of one frame's binary masks (H, W), computed plainly on the whole frame.

    The reference form of the definition; `frame_scores` gives the same numbers faster.
    """
    p, g = np.asarray(pred, bool), np.asarray(gt, bool)
    if void is not None:
        p, g = p & ~void, g & ~void
    r = boundary_tolerance(*p.shape) if radius is None else radius
    bp, bg = boundary_map(p), boundary_map(g)
    kernel = disk(r)
    dp = cv2.dilate(bp.view(np.uint8), kernel).astype(bool)
    dg = cv2.dilate(bg.view(np.uint8), kernel).astype(bool)
    n_p, n_g = int(bp.sum()), int(bg.sum())
    return f_from_counts(n_p, n_g, int((bp & dg).sum()), int((bg & dp).sum()))


@dataclass(frozen=True)
class _Crop:
    """A bool array holding pixels [y, y + h) x [x, x + w) of the frame, at = (y, x)."""

    array: np.ndarray
    at: tuple[int, int]


def _overlap_count(a: _Crop, b: _Crop) -> int:
    """Pixels true in both crops (0 where they do not overlap)."""
    y0, x0 = max(a.at[0], b.at[0]), max(a.at[1], b.at[1])
    y1 = min(a.at[0] + a.array.shape[0], b.at[0] + b.array.shape[0])
    x1 = min(a.at[1] + a.array.shape[1], b.at[1] + b.array.shape[1])
    if y0 >= y1 or x0 >= x1:
        return 0
    ca = a.array[y0 - a.at[0] : y1 - a.at[0], x0 - a.at[1] : x1 - a.at[1]]
    cb = b.array[y0 - b.at[0] : y1 - b.at[0], x0 - b.at[1] : x1 - b.at[1]]
    return int(np.count_nonzero(ca & cb))


@dataclass(frozen=True)
class _Region:
    """One object in one frame, reduced to what pairwise J and F need: the mask over its
    bounding box, its area, its boundary map (n_boundary pixels) and the boundary dilated by the
    tolerance disk, each as a crop of the frame."""

    mask: _Crop
    area: int
    boundary: _Crop
    n_boundary: int
    dilated: _Crop


def _region(mask: np.ndarray, radius: int, kernel: np.ndarray) -> _Region | None:
    """Reduce a full-frame bool mask (H, W) to a _Region; None when the mask is empty."""
    x, y, w, h = cv2.boundingRect(mask.view(np.uint8))
    if w == 0 or h == 0:
        return None
    height, width = mask.shape
    # The boundary lies within the box grown by 1 px (pixels just above/left of the mask are on
    # it); the crop is grown by 1 px on every side so that neighbour tests see true values.
    y0, y1, x0, x1 = max(y - 1, 0), min(y + h + 1, height), max(x - 1, 0), min(x + w + 1, width)
    bmap = boundary_map(mask[y0:y1, x0:x1])
    dy0, dx0 = max(y0 - radius, 0), max(x0 - radius, 0)
    dy1, dx1 = min(y1 + radius, height), min(x1 + radius, width)
    canvas = np.zeros((dy1 - dy0, dx1 - dx0), np.uint8)
    canvas[y0 - dy0 : y1 - dy0, x0 - dx0 : x1 - dx0] = bmap
    dilated = cv2.dilate(canvas, kernel).view(bool)
    crop = mask[y : y + h, x : x + w]
    return _Region(
        _Crop(crop, (y, x)), int(np.count_nonzero(crop)),
        _Crop(bmap, (y0, x0)), int(np.count_nonzero(bmap)), _Crop(dilated, (dy0, dx0)),
    )  # fmt: skip


def _pair_scores(p: _Region | None, g: _Region | None) -> tuple[float, float]:
    """(J, F) of one predicted region against one GT region; None is an empty mask."""
    if p is None or g is None:
        j = 1.0 if p is None and g is None else 0.0
        # Only a mask filling the whole frame has no boundary pixel, so count rather than assume.
        n_p, n_g = (0 if p is None else p.n_boundary), (0 if g is None else g.n_boundary)
        return j, f_from_counts(n_p, n_g, 0, 0)
    inter = _overlap_count(p.mask, g.mask)
    j = inter / (p.area + g.area - inter)
    hits_p, hits_g = _overlap_count(p.boundary, g.dilated), _overlap_count(g.boundary, p.dilated)
    return j, f_from_counts(p.n_boundary, g.n_boundary, hits_p, hits_g)


def frame_scores(
    pred: np.ndarray, gt: np.ndarray, n_pred: int, n_gt: int, radius: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise J and F of one frame's label images -> (J (n_pred, n_gt), F (n_pred, n_gt)).

    pred, gt: (H, W) uint8 label images. GT 255 is void (excluded from J, zeroed for F); GT ids
    above `n_gt` count as background (DAVIS takes the objects from the first frame). Predicted
    ids must lie in 0..n_pred; predicted pixels on GT void are ignored.
    """
    r = boundary_tolerance(*gt.shape) if radius is None else radius
    kernel = disk(r)
    void = gt == VOID
    if void.any():
        pred = np.where(void, 0, pred)
    preds = [_region(pred == k, r, kernel) for k in range(1, n_pred + 1)]
    gts = [_region(gt == k, r, kernel) for k in range(1, n_gt + 1)]
    j = np.empty((n_pred, n_gt))
    f = np.empty((n_pred, n_gt))
    for a, p in enumerate(preds):
        for b, g in enumerate(gts):
            j[a, b], f[a, b] = _pair_scores(p, g)
    return j, f


@dataclass(frozen=True)
class SeriesStats:
    """Statistics of one object's per-frame series: mean, recall (> 0.5) and decay."""

    mean: float
    recall: float
    decay: float


def decay_bins(n_frames: int) -> list[slice]:
    """The 4 DAVIS decay bins over frame indices: edges round(linspace(1, N, 5)) - 1 (rounding
    halves up), each bin including its right edge."""
    edges = (np.round(np.linspace(1, n_frames, DECAY_BINS + 1) + 1e-10) - 1).astype(int)
    return [slice(edges[i], edges[i + 1] + 1) for i in range(DECAY_BINS)]


def series_stats(values: np.ndarray) -> SeriesStats:
    """Mean (NaN-ignoring), recall and decay of a per-frame series (T,), as DAVIS."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return SeriesStats(math.nan, math.nan, math.nan)
    bins = decay_bins(len(v))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)  # all-NaN slices -> NaN
        mean = np.nanmean(v)
        decay = np.nanmean(v[bins[0]]) - np.nanmean(v[bins[-1]])
    return SeriesStats(float(mean), float(np.mean(v > RECALL_THRESHOLD)), float(decay))


@dataclass(frozen=True)
class Matching:
    """Result of the unsupervised assignment of one sequence.

    j, f: (n_gt, T) per-frame series of each GT object under its matched prediction;
    pred_ids: (n_gt,) matched predicted id of each GT object (1-based).
    """

    j: np.ndarray
    f: np.ndarray
    pred_ids: np.ndarray


def match_ids_by_jf(j: np.ndarray, f: np.ndarray) -> Matching:
    """Predicted ids matched to GT objects by one assignment per sequence maximising the
    frame-averaged (J + F) / 2.

    j, f: (n_pred, n_gt, T) pairwise per-frame scores with n_pred >= n_gt. DAVIS pads fewer
    predicted ids than GT objects with empty masks: score ids up to max(n_pred, n_gt) (an id that
    never occurs is an empty mask) and map matched ids beyond the real ones to "unmatched".
    Extra predicted ids stay unassigned at no cost.
    """
    n_pred, n_gt, _ = j.shape
    if n_pred < n_gt:
        raise ValueError(f"{n_pred} predicted ids < {n_gt} GT objects: pad with empty ids first")
    score = (j.mean(axis=2) + f.mean(axis=2)) / 2.0
    pred_of_gt = row_for_each_column(score, maximize=True)
    idx = np.arange(n_gt)
    return Matching(j[pred_of_gt, idx], f[pred_of_gt, idx], pred_of_gt + 1)
