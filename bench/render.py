"""Renderer throughput on one core: `python bench/render.py [--preset oclr] [--n 20] [--objects 3]`.

Prints `N frames/s` (kept frames per CPU-second of this one-thread process, sampling included;
wall-clock frames/s beside it, which other processes on a shared machine inflate) and where the
time goes (CPU time): sampling, planning (sprite masks, TPS fits, boxes, homographies), the
object layers (TPS inversion, texture, flow), the background and occluder layers, and the rest
(allocation, Python). The thread count is pinned to 1 before numpy/numba load: a per-core figure.
"""

from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402

import numpy as np  # noqa: E402
from layersynth.assets.sources import Assets  # noqa: E402
from layersynth.render import kernels  # noqa: E402
from layersynth.render import renderer as render_mod  # noqa: E402
from layersynth.scene.config import SceneConfig  # noqa: E402
from layersynth.scene.sampling import sample_scene  # noqa: E402

PARTS = {(render_mod, "_plan_object"): "planning", (render_mod, "_plan_occluder"): "planning",
         (render_mod, "_camera"): "planning",
         (kernels, "object_frame"): "objects (TPS inverse, texture, flow)",
         (kernels, "flat_frame"): "occluder + near planes",
         (kernels, "background_frame"): "background (and frame rounding)"}


def _timed(fn, name, totals):
    def wrapper(*args, **kwargs):
        start = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            totals[name] += time.process_time() - start
    return wrapper


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="oclr")
    ap.add_argument("--n", type=int, default=20, help="sequences to render")
    ap.add_argument("--objects", default="3", help="object counts, e.g. 3 or 1,2,3")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    cfg = SceneConfig.preset(args.preset, objects=tuple(int(k) for k in args.objects.split(",")))
    assets = Assets.builtin()
    start = time.perf_counter()
    render_mod.render(sample_scene(np.random.default_rng(12345), cfg, assets), assets)
    print(f"warm-up (numba compile or cache load): {time.perf_counter() - start:.2f} s")
    totals: dict[str, float] = defaultdict(float)
    for (module, name), part in PARTS.items():
        if hasattr(module, name):  # an older renderer (run side by side) may lack one
            setattr(module, name, _timed(getattr(module, name), part, totals))
    rng = np.random.default_rng(args.seed)
    start, start_cpu = time.perf_counter(), time.process_time()
    for _ in range(args.n):
        t0 = time.process_time()
        params = sample_scene(rng, cfg, assets)
        totals["sampling"] += time.process_time() - t0
        render_mod.render(params, assets)
    wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    frames = args.n * cfg.frames
    print(f"{args.preset} {cfg.height}x{cfg.width}, T={cfg.frames}, objects {cfg.objects}, "
          f"{args.n} sequences, 1 thread")
    for part, secs in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {part:40s} {1e3 * secs / frames:7.3f} ms/frame  {100 * secs / cpu:5.1f} %")
    rest = cpu - sum(totals.values())
    print(f"  {'other (allocation, Python)':40s} {1e3 * rest / frames:7.3f} ms/frame  "
          f"{100 * rest / cpu:5.1f} %")
    print(f"wall clock: {frames / wall:.1f} frames/s ({os.getloadavg()[0]:.1f} load average)")
    print(f"{frames / cpu:.1f} frames/s")


if __name__ == "__main__":
    main()
