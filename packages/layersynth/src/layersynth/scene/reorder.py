"""Depth-order changes (issue 16): when, in a sampled scene, two objects swap depth ranks.

A change swaps two objects adjacent in depth (objects k and k + 1 of the scene, which starts in
the order 0 .. K-1), so exactly one pair's relative order flips and every other pair keeps its
own; occluders are a layer of their own, always in front, and never take part. `plan_change`
looks at the scene's amodal masks at about one frame per nominal frame (`nominal` below, as
`sampling.nominal_rate` gives them) and picks the swap time tau among those frames:

- apart (the default): the two masks are more than APART x H pixels apart at the swap frame and
  at the nominal frames on each side of it, so the swap falls in a stretch where they share no
  pixel and no frame shows it happen (motion is smooth: a frame at a finer time step between two
  apart nominal frames is apart too, bar a sliver);
- crossing (SceneConfig.order_change_crossing): the masks overlap at the swap frame and at the one
  before it, so the shared pixels change owner from one frame to the next.

Each candidate is scored by what a model can see of it: 2 when the pair overlaps both before and
after the swap (both orders are visible in the image), 1 when it comes near (within NEAR x H
pixels) on both sides, 0 otherwise (the order of two objects that never meet is not seen, nor
does it matter); the sampler asks for a 2, re-draws the scene otherwise and keeps the best it
saw (`sampling`). Ties are broken by `rng`. The choice depends on trajectory time only (never on
the frame count or time step), so regeneration and time-step resampling see the same change.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.ndimage import distance_transform_edt

from layersynth.scene.config import SceneConfig
from layersynth.scene.params import OrderChange, SceneParams

APART = 0.02  # share of H: the masks' distance at and around an "apart" swap (2.6 px at 128)
NEAR = 0.1  # share of H: "near" (13 px at 128), the weaker evidence of a visible change
BOTH_SEEN, NEAR_BOTH, UNSEEN = 2, 1, 0  # candidate scores


def pair_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,) float64 distance in pixels between masks a and b (N, H, W) bool at each frame: 0 where
    they overlap, inf where either is empty (out of frame)."""
    out = np.full(len(a), np.inf)
    for n in range(len(a)):
        if a[n].any() and b[n].any():
            out[n] = float(distance_transform_edt(~a[n])[b[n]].min())
    return out


def candidates(dist: np.ndarray, cfg: SceneConfig) -> list[tuple[int, int]]:
    """[(score, n)]: the frames n of a pair's distance (N,) px where a swap may happen."""
    apart, near = max(1.0, APART * cfg.height), NEAR * cfg.height
    out = []
    for n in range(1, len(dist) - 1 if not cfg.order_change_crossing else len(dist)):
        if cfg.order_change_crossing:
            if dist[n - 1] == 0 and dist[n] == 0:
                out.append((BOTH_SEEN, n))
            continue
        if not np.all(dist[n - 1:n + 2] > apart):
            continue
        before, after = dist[:n], dist[n:]
        if (before == 0).any() and (after == 0).any():
            out.append((BOTH_SEEN, n))
        else:
            seen = (before <= near).any() and (after <= near).any()
            out.append((NEAR_BOTH if seen else UNSEEN, n))
    return out


def plan_change(rng: np.random.Generator, cfg: SceneConfig, params: SceneParams,
                taus: np.ndarray, amodal: np.ndarray) -> tuple[int, SceneParams] | None:
    """(score, params with one OrderChange) of the best swap of two depth-adjacent objects, or
    None when there is no candidate (no pair is ever apart, or for a crossing, overlapping).
    taus (N,) are the trajectory times of amodal (K, N, H, W) bool, the scene's masks at about
    one frame per nominal frame, order unchanged."""
    found = []  # (score, k, n)
    for k in range(len(params.objects) - 1):
        dist = pair_distance(amodal[k], amodal[k + 1])
        found += [(score, k, n) for score, n in candidates(dist, cfg)]
    if not found:
        return None
    best = max(score for score, _, _ in found)
    top = [(k, n) for score, k, n in found if score == best]
    k, n = top[int(rng.integers(len(top)))]
    change = OrderChange(tau=float(taus[n]), a=k, b=k + 1)
    return best, replace(params, order_changes=(change,))
