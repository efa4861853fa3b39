"""Benchmark: files per second of the texture index and of the silhouette bank, cold and warm.

Writes synthetic trees in a temporary folder: a PASS-like folder of small JPEGs spread over a few
sub-folders (the index only stats files, so their content does not matter), and a YouTube-VOS-like
train root of 1280 x 720 palette annotations with 1 to 3 moving ellipses per video. Times:
- texture index: first scan (cold), then a start with the cached index (warm);
- silhouette bank: first extraction (cold; every annotation read, --frames-per-video of them
  per video), then a start with the cached bank (warm).
Also projects the cold times to PASS (1,439,588 images) and YouTube-VOS 2019 train
(3,471 videos x frames_per_video annotations).

    .venv/bin/python bench/assets.py [--images 20000 --videos 60 --frames 6]

Prints a table, then one JSON object last on stdout.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from layersynth.assets.silhouette_bank import BankConfig, SilhouetteBank
from layersynth.assets.texture_folder import load_or_build_index
from layersynth.report import emit_json
from PIL import Image

PASS_IMAGES = 1_439_588
YTVOS_VIDEOS = 3_471


def make_images(root: Path, n: int) -> None:
    blob = cv2.imencode(".jpg", np.full((8, 8, 3), 128, np.uint8))[1].tobytes()
    for i in range(n):
        folder = root / f"part{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i:08x}.jpeg").write_bytes(blob)


def make_annotations(root: Path, videos: int, frames: int, rng: np.random.Generator) -> None:
    palette = [0, 0, 0] + [int(v) for v in rng.integers(0, 256, 765)]
    for v in range(videos):
        k = int(rng.integers(1, 4))
        centres = rng.uniform((250, 200), (1030, 520), (k, 2))
        axes = rng.integers(40, 160, (k, 2))
        velocity = rng.uniform(-8, 8, (k, 2))
        for f in range(frames):
            ids = np.zeros((720, 1280), np.uint8)
            for j in range(k):
                c = centres[j] + f * velocity[j]
                cv2.ellipse(ids, (int(c[0]), int(c[1])), (int(axes[j, 0]), int(axes[j, 1])),
                            15.0 * j, 0, 360, j + 1, -1)
            img = Image.fromarray(ids, mode="P")
            img.putpalette(palette)
            path = root / "Annotations" / f"video{v:04d}" / f"{5 * f:05d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            img.save(path)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=20000)
    ap.add_argument("--videos", type=int, default=60)
    ap.add_argument("--frames", type=int, default=6, help="annotated frames per video")
    ap.add_argument("--frames-per-video", type=int, default=4, help="BankConfig setting")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_images(tmp / "pass", args.images)
        make_annotations(tmp / "ytvos", args.videos, args.frames, np.random.default_rng(0))
        (index, _), index_cold = timed(lambda: load_or_build_index(tmp / "pass"))
        (_, rebuilt), index_warm = timed(lambda: load_or_build_index(tmp / "pass"))
        assert not rebuilt and len(index) == args.images
        cfg = BankConfig(frames_per_video=args.frames_per_video)
        bank, bank_cold = timed(lambda: SilhouetteBank(tmp / "ytvos", config=cfg))
        warm, bank_warm = timed(lambda: SilhouetteBank(tmp / "ytvos", config=cfg))
        assert bank.rebuilt and not warm.rebuilt
    read = args.videos * min(args.frames, args.frames_per_video)
    result = {
        "texture_index": {"files": args.images, "cold_s": index_cold, "warm_s": index_warm,
                          "cold_files_per_s": args.images / index_cold,
                          "pass_projection_s": PASS_IMAGES / (args.images / index_cold)},
        "silhouette_bank": {"annotations_read": read, "silhouettes": len(bank),
                            "cold_s": bank_cold, "warm_s": bank_warm,
                            "cold_files_per_s": read / bank_cold,
                            "ytvos_projection_s": YTVOS_VIDEOS * args.frames_per_video
                            / (read / bank_cold)},
    }
    ti, sb = result["texture_index"], result["silhouette_bank"]
    print(f"{'':18}{'files':>8}{'cold s':>9}{'files/s':>10}{'warm s':>9}{'full set':>11}")
    print(f"{'texture index':18}{ti['files']:>8}{ti['cold_s']:>9.2f}"
          f"{ti['cold_files_per_s']:>10.0f}{ti['warm_s']:>9.3f}"
          f"{ti['pass_projection_s']:>10.0f}s  (PASS, 1.44 M images)")
    print(f"{'silhouette bank':18}{read:>8}{sb['cold_s']:>9.2f}{sb['cold_files_per_s']:>10.1f}"
          f"{sb['warm_s']:>9.3f}{sb['ytvos_projection_s']:>10.0f}s  (YouTube-VOS train, "
          f"{args.frames_per_video} frames/video; {len(bank)} silhouettes kept here)")
    emit_json(result, args.json)


if __name__ == "__main__":
    main()
