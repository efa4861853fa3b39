"""Throughput of the flow estimators: frame pairs per second, and what it implies for a dataset.

    .venv/bin/python bench/flow.py                       # DIS presets + RAFT on the CPU, 128 x 224
    .venv/bin/python bench/flow.py --device cuda --raft-batch 32,64 --raft-pairs 512

RAFT's cost does not depend on its weight values, so without --raft-weights the bench times a
network with random weights (no checkpoint needed). A clip of T frames needs 2 (T - 1) estimated
pairs (the ends use the negated opposite gap), so the projection for N sequences is
N * 2 (T - 1) / (pairs per second). Prints a table, then one JSON object last on stdout.
"""

from __future__ import annotations

import os
import time

import numpy as np
from layersynth.cli.conventions import OneLineParser, run_main
from layersynth.errors import UsageError
from layersynth.estimators.dis import DIS_PRESETS, DisConfig, DisEstimator
from layersynth.estimators.raft import (
    RaftConfig,
    RaftEstimator,
    check_device,
    import_ptlflow,
    load_raft,
)
from layersynth.report import emit_json

TARGET_MINUTES = 30.0


def textured_pairs(n: int, h: int, w: int, rng: np.random.Generator) -> tuple:
    """n pairs (src, dst), each (n, h, w, 3) uint8: a smooth random texture shifted by (3, 2) px."""
    import cv2

    noise = cv2.GaussianBlur(rng.random((h + 8, w + 8)).astype(np.float32), (0, 0), 2.0)
    grey = (128 + (noise - noise.mean()) / noise.std() * 40).clip(0, 255).astype(np.uint8)
    src = np.repeat(grey[4 : 4 + h, 4 : 4 + w, None], 3, axis=-1)
    dst = np.repeat(grey[2 : 2 + h, 1 : 1 + w, None], 3, axis=-1)
    return np.repeat(src[None], n, axis=0), np.repeat(dst[None], n, axis=0)


def timed(est, src: np.ndarray, dst: np.ndarray, warmup: int) -> dict:
    """Wall-clock pairs/s, and CPU seconds a pair (all threads of this process: a figure that a
    CPU shared with other jobs inflates much less than the wall clock)."""
    est.estimate_pairs(src[:warmup], dst[:warmup])  # first calls allocate / pick kernels
    wall, cpu = time.perf_counter(), time.process_time()
    est.estimate_pairs(src, dst)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"pairs_per_s": len(src) / wall, "cpu_s_per_pair": cpu / len(src)}


def raft_model(weights: str | None, device: str, iters: int):
    if weights is not None:
        return load_raft(RaftConfig(weights, device, iters=iters))
    import warnings

    check_device(device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = import_ptlflow().get_model("raft")
    model.iters = iters
    return model.eval().to(device)


def bench(args) -> list[dict]:
    h, w = args.size
    rng = np.random.default_rng(0)
    rows = []
    src, dst = textured_pairs(args.dis_pairs, h, w, rng)
    for preset in DIS_PRESETS:
        rate = timed(DisEstimator(DisConfig(preset)), src, dst, warmup=4)
        rows.append({"method": f"dis-{preset}", "device": "cpu", "batch": 1, "iters": None,
                     "precision": "fp32", **rate})
    src, dst = textured_pairs(args.raft_pairs, h, w, rng)
    for iters in args.iters:
        model = raft_model(args.raft_weights, args.device, iters)
        for batch in args.raft_batch:
            cfg = RaftConfig(args.raft_weights, args.device, batch, iters, args.precision)
            rate = timed(RaftEstimator(model, cfg), src, dst, warmup=batch)
            rows.append({"method": "raft", "device": args.device, "batch": batch, "iters": iters,
                         "precision": args.precision if args.device != "cpu" else "fp32",
                         **rate})
    return rows


def shard_rewrite_seconds(h: int, w: int, frames: int, sequences: int) -> float:
    """Seconds `shards.add_arrays` takes to add one flow array to every sequence of a shard of
    `sequences` clips (what `layersynth flow` does per shard, overlapped with the next estimate)."""
    import tempfile
    from pathlib import Path

    from layersynth.store import manifest
    from layersynth.store.writer import ShardWriter, add_arrays

    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:h, :w] / h
    flow = np.stack([np.sin(3 * xx + yy), np.cos(2 * yy - xx)], -1).astype(np.float32) * 4
    flow = np.broadcast_to(flow, (frames, 2, h, w, 2))  # smooth, like a real estimate
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        manifest.save(root, manifest.new({}, shard_size=sequences, n=sequences,
                                         generator_version="bench"))
        with ShardWriter(root / "shard-00000.h5", shard_index=0, settings={},
                         generator_version="bench") as writer:
            for i in range(sequences):
                writer.add(manifest.seq_id(i), fake_arrays(rng, frames, h, w, flow), {})
        manifest.put_entry(root, writer.entry)
        start = time.perf_counter()
        add_arrays(root, "shard-00000.h5",
                   {manifest.seq_id(i): {"flow_raft": flow} for i in range(sequences)})
        return time.perf_counter() - start


def fake_arrays(rng, t: int, h: int, w: int, flow: np.ndarray) -> dict:
    amodal = np.zeros((2, t, h, w), bool)
    amodal[0, :, h // 4 : h // 2, w // 4 : w // 2] = True
    amodal[1, :, h // 3 : 3 * h // 4, w // 3 : 2 * w // 3] = True
    modal = np.where(amodal[0], 1, np.where(amodal[1], 2, 0)).astype(np.uint8)
    return {"rgb": rng.integers(0, 256, (t, h, w, 3), dtype=np.uint8), "amodal": amodal,
            "modal": modal, "occluder": np.zeros((t, h, w), bool),
            "flow_gt": np.ascontiguousarray(flow), "order": np.arange(2, dtype=np.int16)}


def project(rows: list[dict], sequences: int, frames: int) -> dict:
    pairs = sequences * 2 * (frames - 1)
    for row in rows:
        row["hours_for_dataset"] = pairs / row["pairs_per_s"] / 3600
    return {"sequences": sequences, "frames": frames, "pairs": pairs,
            "pairs_per_s_needed_for_30_min": pairs / (TARGET_MINUTES * 60)}


def print_table(rows: list[dict], projection: dict) -> None:
    print(f"{'method':<15}{'device':<7}{'batch':>6}{'iters':>6}{'prec':>6}"
          f"{'pairs/s':>10}{'ms/pair':>10}{'cpu ms/pair':>12}{'h/dataset':>11}")
    for r in rows:
        iters = "-" if r["iters"] is None else r["iters"]
        print(f"{r['method']:<15}{r['device']:<7}{r['batch']:>6}{iters:>6}{r['precision']:>6}"
              f"{r['pairs_per_s']:>10.1f}{1000 / r['pairs_per_s']:>10.2f}"
              f"{1000 * r['cpu_s_per_pair']:>12.2f}"
              f"{r['hours_for_dataset']:>11.2f}")
    p = projection
    if "shard_rewrite_s" in p:
        print(f"shard rewrite ({p['shard_size']} sequences): {p['shard_rewrite_s']:.2f} s, "
              f"{p['rewrite_minutes_for_dataset']:.1f} min for the dataset (overlapped with RAFT)")
    print(f"dataset: {p['sequences']} sequences x 2 ({p['frames']} - 1) = {p['pairs']} pairs; "
          f"{TARGET_MINUTES:.0f} min needs {p['pairs_per_s_needed_for_30_min']:.0f} pairs/s")


def ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise UsageError(f"expected comma-separated integers, got {text!r}") from None


def size(text: str) -> tuple[int, int]:
    h, _, w = text.partition("x")
    if not (h.isdigit() and w.isdigit()):
        raise UsageError(f"--size: expected HxW, got {text!r}")
    return int(h), int(w)


def parse(argv=None):
    p = OneLineParser(prog="bench/flow.py", description=__doc__.splitlines()[0])
    p.add_argument("--size", type=size, default=(128, 224), help="frame size HxW")
    p.add_argument("--dis-pairs", type=int, default=200)
    p.add_argument("--raft-pairs", type=int, default=8)
    p.add_argument("--iters", type=ints, default=[20, 12], help="RAFT iterations, e.g. 20,12")
    p.add_argument("--raft-batch", type=ints, default=[1, 4], help="RAFT pairs per forward pass")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (RAFT only)")
    p.add_argument("--precision", default="auto", help="CUDA autocast: auto, bf16, fp16, fp32")
    p.add_argument("--raft-weights", default=None, help="checkpoint (default: random weights)")
    p.add_argument("--sequences", type=int, default=4000)
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--shard-size", type=int, default=16,
                   help="time adding flow to one shard of this many sequences (0: skip)")
    p.add_argument("--json", default=None, help="also write the JSON object to this file")
    return p.parse_args(argv)


def main(argv=None) -> int:
    def body() -> int:
        args = parse(argv)
        import torch

        rows = bench(args)
        projection = project(rows, args.sequences, args.frames)
        if args.shard_size:
            rewrite = shard_rewrite_seconds(*args.size, args.frames, args.shard_size)
            shards = -(-args.sequences // args.shard_size)
            projection.update(shard_rewrite_s=rewrite, shard_size=args.shard_size,
                              rewrite_minutes_for_dataset=rewrite * shards / 60)
        print_table(rows, projection)
        load = os.getloadavg()[0]  # the CPU may be shared: report how busy it was
        emit_json({"size": list(args.size), "torch_threads": torch.get_num_threads(),
                   "cpus": os.cpu_count(), "load_avg_1min_after": load,
                   "rows": rows, **projection}, args.json)
        return 0

    return run_main("bench/flow.py", body)


if __name__ == "__main__":
    raise SystemExit(main())
