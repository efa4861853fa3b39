"""Benchmark (not a test): `layersynth import` speed and size on disk on a fabricated folder in the
released OCLR layout (30-frame sequences of smooth gradient frames, K moving rectangles as amodal
masks, smooth affine flows as RAFT's look, the end flows left out as in the released data).

    python bench/import_speed.py --source 128x224 --n 8 --workers 2 [--size 128x224]
        [--shard-size 4] [--root /tmp/import-bench]

Prints one JSON object: frames/s and the bytes of the shards against the source folder.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
from layersynth.pipeline.importing import ImportConfig, import_dataset
from layersynth.store.middlebury_flo import write_flo
from PIL import Image

FRAMES = 30


def fabricate_sequence(root: Path, name: str, h: int, w: int, rng: np.random.Generator) -> None:
    k = int(name[0])
    dirs = {d: root / d / name for d in
            ("JPEGImages", "AmodalAnnotations", "Flows_gap1", "Flows_gap-1")}
    for d in dirs.values():
        d.mkdir(parents=True)
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    corners = rng.integers(0, [h // 3, w // 3], (k, 2))
    for t in range(FRAMES):
        stem = f"{t:05d}"
        rgb = np.stack([(xx * 7 + t * 5) % 256, (yy * 5) % 256, (xx + yy) % 256], -1)
        Image.fromarray(rgb.astype(np.uint8)).save(dirs["JPEGImages"] / f"{stem}.jpg", quality=95)
        for obj, (y, x) in enumerate(corners):
            mask = np.zeros((h, w), np.uint8)
            mask[y + t % 3: y + t % 3 + h // 2, x + t % 2: x + t % 2 + w // 2] = 255
            Image.fromarray(mask).save(dirs["AmodalAnnotations"] / f"{obj + 1}_{stem}.png")
        for gap, folder in enumerate(("Flows_gap1", "Flows_gap-1")):
            if t != (FRAMES - 1 if gap == 0 else 0):
                a, b, c, d = rng.normal(0, 0.01, 4)
                u0, v0 = rng.normal(0, 3, 2)
                flow = np.stack([u0 + a * (xx - w / 2) + b * (yy - h / 2),
                                 v0 + c * (xx - w / 2) + d * (yy - h / 2)], -1)
                write_flo(dirs[folder] / f"{stem}.flo", flow.astype(np.float32))


def parse_size(text: str) -> tuple[int, int]:
    h, w = (int(v) for v in text.lower().split("x"))
    return h, w


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=parse_size, default=(128, 224))
    parser.add_argument("--size", type=parse_size, default=None)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shard-size", type=int, default=4)
    parser.add_argument("--root", type=Path, default=Path("/tmp/import-bench"))
    args = parser.parse_args()
    h, w = args.source
    src = args.root / f"{h}x{w}" / "src"
    if not src.exists():  # fabricated once per source size, reused by later runs
        rng = np.random.default_rng(0)
        for i in range(args.n):
            fabricate_sequence(src, f"{1 + i % 3}_{i:05d}", h, w, rng)
    out = args.root / f"{h}x{w}" / "ds"
    shutil.rmtree(out, ignore_errors=True)
    cfg = ImportConfig(src=src, size=args.size, shard_size=args.shard_size)
    s = import_dataset(cfg, out, workers=args.workers)
    print(json.dumps({"source": f"{h}x{w}", "stored": "x".join(map(str, args.size or (h, w))),
                      "sequences": s["sequences"], "frames": s["frames"], "workers": args.workers,
                      "seconds": round(s["seconds"], 2),
                      "frames_per_second": round(s["frames_per_second"], 1),
                      "shard_bytes": s["bytes"], "source_bytes": s["source_bytes"],
                      "ratio": round(s["bytes"] / s["source_bytes"], 3)}))


if __name__ == "__main__":
    main()
