"""Benchmark: `oclr-infer` frames per second on the CPU, DIS flow included, per model preset.

Writes a synthetic video as JPEG frames (textured squares moving over a textured background, by
default 60 frames of 480 x 854, the DAVIS 480p size) and a checkpoint with random weights for
each preset (speed does not depend on the weights), then runs the whole `oclr-infer` pipeline
in-process: read frames, DIS flow (no cache) at full resolution and at each `--flow-widths`
width, the network over overlapping
windows with identity linking, upsampling, PNG masks, amodal PNGs and the MP4 overlay. Reports
the time of each stage from oclr-infer's own summary, the wall time including model loading,
and the process CPU time per frame (all threads; the overlay encoder subprocess excluded), which
a shared, loaded machine inflates much less than wall time.

    .venv/bin/python bench/infer.py [--presets tiny,oclr --frames 60 --size 480x854 --threads 2
                                     --flow-widths full,448]

Prints a table, then one JSON object last on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import oclr
import torch
from layersynth.report import emit_json
from oclr.checkpoint import save_checkpoint
from oclr.cli_infer import main as infer_main
from PIL import Image


def write_video(folder: Path, n: int, h: int, w: int, rng: np.random.Generator) -> None:
    def texture(th: int, tw: int) -> np.ndarray:
        small = rng.integers(0, 255, (max(th // 8, 1), max(tw // 8, 1), 3)).astype(np.uint8)
        return np.asarray(Image.fromarray(small).resize((tw, th), Image.BILINEAR))

    folder.mkdir(parents=True)
    bg, obj = texture(h, w), texture(h // 4, w // 6)
    for t in range(n):
        frame = bg.copy()
        y, x = h // 3, (w // 10 + 4 * t) % (w - obj.shape[1])
        frame[y:y + obj.shape[0], x:x + obj.shape[1]] = obj
        Image.fromarray(frame).save(folder / f"{t:05d}.jpg", quality=90)


def run_preset(preset: str, frames_dir: Path, work: Path, flow_width: int | None) -> dict:
    torch.manual_seed(0)
    model = oclr.build_model(preset)
    ckpt = save_checkpoint({"model": model.state_dict(), "model_config": model.cfg.to_dict()},
                           work / f"{preset}.pt")
    out = io.StringIO()
    width = [] if flow_width is None else ["--flow-width", str(flow_width)]
    start, cpu_start = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(out):
        code = infer_main(["--checkpoint", str(ckpt), "--frames", str(frames_dir), "--out",
                           str(work / f"out-{preset}"), "--no-flow-cache", *width])
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    if code != 0:
        raise SystemExit(f"oclr-infer failed for preset {preset} (exit {code})")
    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    cfg = model.cfg
    return {
        "preset": preset, "flow_width": flow_width, "model_size": [cfg.height, cfg.width],
        "window": cfg.frames,
        "windows": summary["windows"], "seconds": summary["seconds"],
        "pipeline_fps": summary["fps"], "wall_seconds": wall,
        "wall_fps": summary["frames"] / wall, "cpu_seconds": cpu,
        "cpu_seconds_per_frame": cpu / summary["frames"],
        "overlay": Path(summary["overlay"]).suffix,
    }  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", default="tiny,oclr")
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--size", default="480x854", help="frame size HxW")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--flow-widths", default="full,448",
                   help="widths DIS runs at (oclr-infer --flow-width), 'full' = the frames' own")
    args = p.parse_args()
    widths = [None if v == "full" else int(v) for v in args.flow_widths.split(",")]
    torch.set_num_threads(args.threads)
    h, w = (int(v) for v in args.size.split("x"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_video(work / "frames", args.frames, h, w, np.random.default_rng(0))
        for preset in args.presets.split(","):
            for flow_width in widths:
                rows.append(run_preset(preset, work / "frames", work, flow_width))
    print(f"oclr-infer on {args.frames} frames of {w}x{h}, CPU, {args.threads} torch threads, DIS")
    print(f"{'preset':<6} {'flow w':>6} {'model in':>9} {'win':>4} {'flow s':>7} {'model s':>8} "
          f"{'write s':>8} {'fps':>6} {'wall fps':>9} {'CPU s/frame':>12}")
    for r in rows:
        s = r["seconds"]
        fw = "full" if r["flow_width"] is None else str(r["flow_width"])
        print(f"{r['preset']:<6} {fw:>6} {r['model_size'][1]:>4}x{r['model_size'][0]:<4} "
              f"{r['windows']:>4} "
              f"{s['flow']:7.2f} {s['model']:8.2f} {s['write']:8.2f} {r['pipeline_fps']:6.2f} "
              f"{r['wall_fps']:9.2f} {r['cpu_seconds_per_frame']:12.3f}")
    emit_json({"frames": args.frames, "size": [h, w], "threads": args.threads, "presets": rows})


if __name__ == "__main__":
    main()
