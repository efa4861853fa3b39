"""Brightness constancy of the renderer: warp error and DIS EPE with the colour jitter off.

`python bench/warp_error.py [--n 48] [--preset oclr] [--seed 1]`

Renders N scenes of a preset with the photometric jitter off (SceneConfig photometric=False), so a
pixel's colour should follow its ground-truth flow exactly, up to texture filtering and aliasing.
For every pair (t, t + 1) it warps frame t + 1 back by the +1 flow (bilinear) and prints:

1. the mean absolute warp error |I_t(x) - I_{t+1}(x + f(x))| in levels of 255 (mean over pixels
   and channels), on pixels whose 4 neighbours carry the same layer as the pixel (same modal
   label and occluder flag, and a +1 flow within FLOW_EDGE px of the pixel's, so no layer edge is
   inside the bilinear footprint, not even a near plane's edge on the far background) and whose
   target x + f(x) lands inside frame t + 1 with its 4 bilinear neighbours on that same layer; per
   layer kind (background, objects, occluder) and over all;
2. the end-point error of layersynth's DIS estimator (preset "medium") against the +1 flow on the
   same pairs: on every pixel and on the pixels of (1).

Then one JSON line with the same figures. Only the public API is used (SceneConfig.preset,
sample_scene, render, Assets.builtin, the DIS estimator), so the script also runs with PYTHONPATH at
an older commit of layersynth: run it at two commits to compare them.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
from layersynth.assets.sources import Assets
from layersynth.estimators.dis import DisConfig, DisEstimator
from layersynth.render.renderer import render
from layersynth.scene.config import SceneConfig
from layersynth.scene.sampling import sample_scene

KINDS = ("background", "objects", "occluder")
# px: neighbours whose +1 flows differ by this much straddle a layer edge even when both are
# labelled background (a near plane over the far background); inside one layer the flow changes by
# ~0.01 px from a pixel to the next
FLOW_EDGE = 0.25


def layer_ids(modal: np.ndarray, occluder: np.ndarray) -> np.ndarray:
    """(T, H, W) uint8, bool -> (T, H, W) int: modal label, or -1 under the occluder."""
    return np.where(occluder, -1, modal.astype(np.int64))


def same_neighbours(ids: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """(H, W) ids, (H, W, 2) flow -> (H, W) bool: the pixel and its 4 neighbours (inside the
    frame) share an id and their flows differ by less than FLOW_EDGE px."""
    ok = np.ones(ids.shape, bool)
    for a, b in (((slice(1, None),), (slice(None, -1),)), ((slice(None, -1),), (slice(1, None),)),
                 ((slice(None), slice(1, None)), (slice(None), slice(None, -1))),
                 ((slice(None), slice(None, -1)), (slice(None), slice(1, None)))):
        step = np.abs(flow[a] - flow[b]).max(-1)
        ok[a] &= (ids[a] == ids[b]) & (step < FLOW_EDGE)
    return ok


def warp_back(img: np.ndarray, flow: np.ndarray, ids_next: np.ndarray, ids: np.ndarray):
    """Frame t + 1 (H, W, 3) read at x + flow(x) (H, W, 2), bilinear -> ((H, W, 3) float64,
    (H, W) bool: the target is inside the frame and its 4 neighbours carry the id of x)."""
    h, w = ids.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    x, y = xx + flow[..., 0], yy + flow[..., 1]
    inside = (x >= 0) & (x < w - 1) & (y >= 0) & (y < h - 1)
    x0 = np.clip(np.floor(x), 0, w - 2).astype(np.int64)
    y0 = np.clip(np.floor(y), 0, h - 2).astype(np.int64)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    same = inside.copy()
    for dy in (0, 1):
        for dx in (0, 1):
            same &= ids_next[y0 + dy, x0 + dx] == ids
    t = img.astype(np.float64)
    top = t[y0, x0] * (1 - fx) + t[y0, x0 + 1] * fx
    bot = t[y0 + 1, x0] * (1 - fx) + t[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bot * fy, same


class Totals:
    """Sums of warp error and DIS end-point error over the measured pixels, per layer kind."""

    def __init__(self) -> None:
        self.err = dict.fromkeys(KINDS, 0.0)
        self.count = dict.fromkeys(KINDS, 0)
        self.epe_all = self.epe_sel = 0.0
        self.n_all = self.n_sel = 0

    def add(self, err: np.ndarray, sel: np.ndarray, ids: np.ndarray, epe: np.ndarray) -> None:
        kind = np.where(ids == 0, 0, np.where(ids < 0, 2, 1))
        for k, name in enumerate(KINDS):
            m = sel & (kind == k)
            self.err[name] += float(err[m].sum())
            self.count[name] += int(m.sum())
        self.epe_all += float(epe.sum())
        self.n_all += epe.size
        self.epe_sel += float(epe[sel].sum())
        self.n_sel += int(sel.sum())

    def summary(self) -> dict:
        out = {name: self.err[name] / max(self.count[name], 1) for name in KINDS}
        out["all"] = sum(self.err.values()) / max(sum(self.count.values()), 1)
        out["pixels"] = sum(self.count.values())
        out["share_measured"] = self.n_sel / max(self.n_all, 1)
        out["dis_epe_all"] = self.epe_all / max(self.n_all, 1)
        out["dis_epe_measured"] = self.epe_sel / max(self.n_sel, 1)
        return out


def measure(seq, dis: DisEstimator, totals: Totals) -> None:
    """Add one rendered Sequence's (t, t + 1) pairs to `totals`."""
    ids = layer_ids(seq.modal, seq.occluder)
    rgb, fwd = seq.rgb, seq.flow_gt[:, 0]  # (T, H, W, 3) uint8, (T, H, W, 2) +1 flow
    est = dis.estimate_pairs(rgb[:-1], rgb[1:])
    for t in range(len(rgb) - 1):
        warped, same = warp_back(rgb[t + 1], fwd[t], ids[t + 1], ids[t])
        sel = same & same_neighbours(ids[t], fwd[t])
        err = np.abs(rgb[t].astype(np.float64) - warped).mean(-1)
        epe = np.hypot(*np.moveaxis(est[t] - fwd[t], -1, 0))
        totals.add(err, sel, ids[t], epe)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=48, help="sequences to render")
    ap.add_argument("--preset", default="oclr")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    cfg = SceneConfig.preset(args.preset, photometric=False)
    assets, dis, totals = Assets.builtin(), DisEstimator(DisConfig()), Totals()
    start = time.perf_counter()
    for child in np.random.SeedSequence(args.seed).spawn(args.n):
        measure(render(sample_scene(np.random.default_rng(child), cfg, assets), assets), dis,
                totals)
    s = summary = totals.summary()
    print(f"{args.preset} {cfg.height}x{cfg.width}, T={cfg.frames}, {args.n} sequences, seed "
          f"{args.seed}, jitter off ({time.perf_counter() - start:.0f} s, "
          f"{os.getloadavg()[0]:.1f} load average)")
    print(f"  warp error, levels of 255 (mean |I_t - I_t+1 warped|), "
          f"{s['pixels']} px = {100 * s['share_measured']:.0f}% of all")
    for name in (*KINDS, "all"):
        print(f"    {name:12s} {s[name]:6.3f}")
    print(f"  DIS EPE, px: all pixels {s['dis_epe_all']:.3f}, measured pixels "
          f"{s['dis_epe_measured']:.3f}")
    print(json.dumps({"preset": args.preset, "n": args.n, "seed": args.seed,
                      **{k: round(v, 4) if isinstance(v, float) else v
                         for k, v in summary.items()}}))


if __name__ == "__main__":
    main()
