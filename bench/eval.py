"""Benchmark: frames per second of `oclr-eval --pred DIR --gt DIR` at DAVIS resolution.

Writes a synthetic DAVIS-layout pair of folders (854 x 480 palette PNGs, 2 moving objects per
sequence; predictions are the GT shifted, grown or shrunk, with ids sometimes swapped and a
stray blob), then times the console script end to end (interpreter start included) and the
in-process scorer `oclr.evaluate.evaluate_folders`, best of --runs each. Target: >= 100 frames/s.

    .venv/bin/python bench/eval.py [--sequences 8 --frames 50 --runs 3 --objects 2]

Prints a table, then one JSON object last on stdout.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from layersynth.report import emit_json
from oclr.davis_io import write_label_png
from oclr.evaluate import EvalConfig, evaluate_folders

H, W = 480, 854


def _ellipse(labels: np.ndarray, centre, axes, angle: float, value: int) -> None:
    cv2.ellipse(labels, (int(centre[0]), int(centre[1])), axes, angle, 0, 360, value, -1)


def make_sequence(rng: np.random.Generator, n_frames: int, n_objects: int, large: bool = False):
    """GT and predicted label images (T, H, W) uint8 of one synthetic sequence; `large`: each
    object spans about half the frame (the costly case: boundary work grows with object size)."""
    starts = rng.uniform((150, 100), (W - 150, H - 100), size=(n_objects, 2))
    speeds = rng.uniform(-3, 3, size=(n_objects, 2))
    lo, hi = ((180, 230), (150, 200)) if large else ((40, 140), (30, 110))
    axes = [(int(rng.integers(*lo)), int(rng.integers(*hi))) for _ in range(n_objects)]
    swap = rng.random() < 0.5
    gt = np.zeros((n_frames, H, W), np.uint8)
    pred = np.zeros_like(gt)
    for t in range(n_frames):
        for k in range(n_objects):
            c = starts[k] + t * speeds[k]
            _ellipse(gt[t], c, axes[k], 10.0 * k, k + 1)
            grow = int(rng.integers(-6, 7))
            jitter = c + rng.normal(0, 2.0, size=2)
            pa = (max(axes[k][0] + grow, 1), max(axes[k][1] + grow, 1))
            _ellipse(pred[t], jitter, pa, 10.0 * k, (n_objects - k) if swap else k + 1)
        if t % 7 == 3:
            _ellipse(pred[t], rng.uniform((50, 50), (W - 50, H - 50)), (15, 10), 0.0, 1)
    return gt, pred


def write_dataset(root: Path, n_seq: int, n_frames: int, n_objects: int, seed: int, large: bool):
    rng = np.random.default_rng(seed)
    for s in range(n_seq):
        gt, pred = make_sequence(rng, n_frames, n_objects, large)
        for kind, labels in (("gt", gt), ("pred", pred)):
            folder = root / kind / f"seq{s:02d}"
            folder.mkdir(parents=True)
            for t, frame in enumerate(labels):
                write_label_png(folder / f"{t:05d}.png", frame)


def time_cli(root: Path, runs: int, workers: int) -> tuple[list[float], list[float]]:
    """Wall seconds and CPU seconds (user + system, all threads) of each end-to-end run."""
    exe = Path(sys.executable).with_name("oclr-eval")
    cmd = [str(exe), "--pred", str(root / "pred"), "--gt", str(root / "gt")]
    cmd += ["--workers", str(workers)]
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return walls, cpus


def time_in_process(root: Path, runs: int, workers: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        evaluate_folders(root / "pred", root / "gt", EvalConfig(workers=workers))
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=8)
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--objects", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--large", action="store_true", help="objects about half the frame")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="oclr-bench-eval-"))
    try:
        write_dataset(root, args.sequences, args.frames, args.objects, args.seed, args.large)
        n = args.sequences * args.frames
        cli, cpu = time_cli(root, args.runs, args.workers)
        inproc = time_in_process(root, args.runs, args.workers)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result = {
        "frames": n, "size": f"{W}x{H}", "objects": args.objects, "runs": args.runs,
        "large_objects": args.large,
        "workers": args.workers, "cli_fps_best": n / min(cli), "cli_seconds": cli,
        "cli_frames_per_cpu_second": n / min(cpu), "cli_cpu_seconds": cpu,
        "in_process_fps_best": n / min(inproc), "in_process_seconds": inproc,
        "target_fps": 100,
    }  # fmt: skip
    print(
        f"{n} frames of {W}x{H}, {args.objects} {'large ' if args.large else ''}objects, "
        f"best of {args.runs} runs, "
        f"{args.workers} worker threads (the machine may be shared: see the CPU figure)"
    )
    print(f"  oclr-eval --pred --gt (end to end): {result['cli_fps_best']:7.1f} frames/s wall")
    print(
        f"  oclr-eval --pred --gt (end to end): {result['cli_frames_per_cpu_second']:7.1f} "
        "frames per CPU-second"
    )
    print(
        f"  evaluate_folders (in process):      {result['in_process_fps_best']:7.1f} frames/s wall"
    )
    emit_json(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
