"""Background parallax of a generated folder: `python bench/parallax.py DIR [--json FILE]`.

For each sequence and kept frame t < T - 1: fit one homography (normalised DLT, least squares) to
the ground-truth +1 flow on the background pixels (modal 0 and not occluder), x -> x + flow; the
frame's residual is the mean distance |H(x) - (x + flow)| over those pixels (px). A sequence's
figure is the mean over its frames. A background moving as one plane gives ~0 (float32 flow);
near planes under their own homographies (parallax) give more. Prints the distribution and the
share of sequences above 0.3 px (issue 13: at least a third).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from layersynth.store.reader import Dataset

THRESHOLD = 0.3  # px, issue 13's figure


def fit_residual(src: np.ndarray, dst: np.ndarray) -> float:
    """(n, 2) points and their targets -> mean |H(src) - dst| of the least-squares homography."""
    def norm(p):
        c, s = p.mean(0), np.sqrt(2) / max(np.sqrt(((p - p.mean(0)) ** 2).sum(1)).mean(), 1e-9)
        return np.array([[s, 0, -s * c[0]], [0, s, -s * c[1]], [0, 0, 1]])
    ts, td = norm(src), norm(dst)
    a = src @ ts[:2, :2].T + ts[:2, 2]
    b = dst @ td[:2, :2].T + td[:2, 2]
    one, zero = np.ones(len(a)), np.zeros(len(a))
    rows = np.concatenate([
        np.stack([a[:, 0], a[:, 1], one, zero, zero, zero, -b[:, 0] * a[:, 0], -b[:, 0] * a[:, 1],
                  -b[:, 0]], 1),
        np.stack([zero, zero, zero, a[:, 0], a[:, 1], one, -b[:, 1] * a[:, 0], -b[:, 1] * a[:, 1],
                  -b[:, 1]], 1)])
    h = np.linalg.svd(rows, full_matrices=False)[2][-1].reshape(3, 3)
    h = np.linalg.inv(td) @ h @ ts
    p = np.concatenate([src, np.ones((len(src), 1))], 1) @ h.T
    return float(np.hypot(*(p[:, :2] / p[:, 2:] - dst).T).mean())


def sequence_residual(flow: np.ndarray, modal: np.ndarray, occluder: np.ndarray) -> float:
    """flow (T, 2, H, W, 2), modal (T, H, W), occluder (T, H, W) -> mean per-frame residual."""
    out = []
    for t in range(flow.shape[0] - 1):
        ys, xs = np.nonzero((modal[t] == 0) & ~occluder[t])
        if len(xs) < 16:
            continue
        src = np.stack([xs, ys], 1).astype(np.float64)
        out.append(fit_residual(src, src + flow[t, 0][ys, xs].astype(np.float64)))
    return float(np.mean(out)) if out else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    data = Dataset(args.root)
    res = np.array([_one(data, s) for s in data])
    q = np.percentile(res, [10, 25, 50, 75, 90])
    share = float((res > THRESHOLD).mean())
    print(f"{len(res)} sequences: background residual after one homography (px, mean per seq)")
    print("  " + "  ".join(f"{k} {v:.3f}" for k, v in
                           zip(("p10", "p25", "median", "p75", "p90", "max"), (*q, res.max()),
                               strict=True)))
    print(f"  share > {THRESHOLD} px: {share:.3f} ({int((res > THRESHOLD).sum())}/{len(res)})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"residuals": res.tolist(), "share_above": share}, f)


def _one(data: Dataset, seq_id: str) -> float:
    d = data.read(seq_id, ["flow_gt", "modal", "occluder"])
    return sequence_residual(d["flow_gt"], d["modal"], d["occluder"])


if __name__ == "__main__":
    main()
