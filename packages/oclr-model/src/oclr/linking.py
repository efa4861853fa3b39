"""Object identity across windows: which output channel of each window is which object.

The model's K channels carry no identity from one window to the next (query k of one clip need not
segment the same object as query k of the next). Two ways to fix the identities:

- `link_windows` (no ground truth; what `oclr-infer` does): consecutive windows overlap; the
  channels of each window are assigned to those of the previous, already-linked window by a
  Hungarian assignment maximising the soft IoU of the masks on the shared frames.
- `match_to_gt` (the reference protocol, REFERENCE.md section 5): each window's channels are
  assigned to the ground-truth objects by a Hungarian assignment maximising IoU on the window's own
  frames, so identities are fixed with ground-truth help. Reported beside the former in evaluation.

A permutation `perm` (K,) int means: linked channel j is the window's channel perm[j], i.e.
`aligned = masks[perm]` and `aligned_order = order[perm]`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from oclr.assignment import column_for_each_row, optimal_assignment
from oclr.windows import Window, shared_frames, slots_of

# When no overlap evidence separates two assignments (e.g. both channels empty on the shared
# frames), keep the window's own channel order: the same query tends to take the same role in
# nearby clips.
_IDENTITY_TIE_BREAK = 1e-6


def soft_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise soft IoU of two stacks of masks.

    a (Ka, ...) and b (Kb, ...) in [0, 1] (bool or probabilities), same trailing shape.
    Returns (Ka, Kb) float64: sum(a*b) / sum(a + b - a*b), 0 where both masks are empty.
    """
    fa = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
    fb = np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    inter = fa @ fb.T
    union = fa.sum(1)[:, None] + fb.sum(1)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def assign(score: np.ndarray) -> np.ndarray:
    """Permutation maximising `score` (Kr, Kc), Kr <= Kc: perm[r] = column assigned to row r,
    unassigned columns appended in ascending order (so perm is a full permutation of Kc)."""
    perm = column_for_each_row(score, maximize=True, prefer_diagonal=_IDENTITY_TIE_BREAK)
    rest = np.setdiff1d(np.arange(score.shape[1]), perm)
    return np.concatenate([perm, rest])


def link_pair(prev_aligned: np.ndarray, nxt: np.ndarray) -> np.ndarray:
    """Permutation of `nxt`'s channels that best agrees with `prev_aligned` on shared frames.

    prev_aligned, nxt: (K, S, H, W) masks or probabilities of the same S shared frames.
    """
    return assign(soft_iou(prev_aligned, nxt))


def link_next(prev: Window, prev_aligned: np.ndarray, window: Window, probs: np.ndarray
              ) -> np.ndarray:
    """Permutation of `window`'s channels continuing the identities of the previous window.

    prev_aligned: (K, size, H, W) the previous window's masks, already in linked channel order;
    probs: (K, size, H, W) this window's masks. Windows sharing no frame keep the channel order.
    """
    frames = shared_frames(prev, window)
    if frames.size == 0:
        return np.arange(len(probs))
    return link_pair(prev_aligned[:, slots_of(prev, frames)], probs[:, slots_of(window, frames)])


def link_windows(windows: Sequence[Window], probs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Link identities along a chain of overlapping windows without ground truth.

    probs: per window (K, size, H, W) amodal probabilities (or masks) in window-slot order.
    Returns one (K,) permutation per window; the first window's is the identity.
    """
    perms = [np.arange(len(probs[0]))]
    for i in range(1, len(windows)):
        aligned_prev = probs[i - 1][perms[-1]]
        perms.append(link_next(windows[i - 1], aligned_prev, windows[i], probs[i]))
    return perms


def object_masks(labels: np.ndarray, n_objects: int | None = None) -> np.ndarray:
    """(T, H, W) integer labels (0 background, j + 1 object j, 255 void) -> (G, T, H, W) bool."""
    labels = np.asarray(labels)
    valid = labels[labels != 255]
    g = int(valid.max(initial=0)) if n_objects is None else n_objects
    if g == 0:
        return np.zeros((0, *labels.shape), bool)
    return np.stack([labels == j + 1 for j in range(g)])


def match_to_gt(
    probs: np.ndarray, gt_masks: np.ndarray, has_gt: np.ndarray | None = None
) -> np.ndarray:
    """Reference protocol: permutation ordering the window's channels by their matched GT object.

    probs: (K, S, H, W) the window's amodal probabilities; gt_masks (G, S, H, W) bool for the same
    S frames; has_gt (S,) bool marks frames that carry ground truth (others are ignored).
    Matching maximises the IoU of the binarised (> 0.5) masks. With G <= K the channel matched to GT
    object j lands at position j; with G > K the K matched channels come in the order of their
    objects. Unmatched channels follow in ascending order. Returns a (K,) permutation.
    """
    k = len(probs)
    if has_gt is not None:
        probs, gt_masks = probs[:, has_gt], gt_masks[:, has_gt]
    if len(gt_masks) == 0 or probs.shape[1] == 0:
        return np.arange(k)
    iou = soft_iou(np.asarray(probs) > 0.5, gt_masks)  # (K, G)
    channels, objects = optimal_assignment(iou, maximize=True, prefer_diagonal=_IDENTITY_TIE_BREAK)
    matched = channels[np.argsort(objects)]
    return np.concatenate([matched, np.setdiff1d(np.arange(k), matched)])
