"""Tiny folders in the layout of the released OCLR synthetic data (REFERENCE.md section 7), made in
tmp_path for the importer's tests: `write_released(root, [("2_a", 5, 16, 24), ...], rng)`.

Each sequence gets K = int(name[0]) overlapping rectangles as amodal masks (file k = 1 the
back-most), smooth frames saved as JPEG, and random flows as .flo files; by default the gap +1
flow of the last frame and the gap -1 flow of the first are left out, as in the released data.
`Fabricated` keeps what was written (masks in file order, flows) for the tests to compare.
On the test path through pytest's `pythonpath` setting: `from released_layout import ...`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from layersynth.store.middlebury_flo import write_flo
from PIL import Image


@dataclass(frozen=True)
class Fabricated:
    """One written sequence: masks (K, T, H, W) bool with index 0 = file k = 1 (back-most),
    flows (T, 2, H, W, 2) float32 as written (NaN where a file was left out), frame names."""

    name: str
    masks: np.ndarray
    flows: np.ndarray
    frames: tuple[str, ...]


def rectangles(rng: np.random.Generator, k: int, t: int, h: int, w: int) -> np.ndarray:
    """(K, T, H, W) bool: one moving rectangle per object, all around the centre (they overlap)."""
    masks = np.zeros((k, t, h, w), bool)
    for obj in range(k):
        y, x = rng.integers(0, h // 3), rng.integers(0, w // 3)
        for f in range(t):
            top, left = y + f % 3, x + f % 2
            masks[obj, f, top: top + h // 2 + 2, left: left + w // 2 + 2] = True
    return masks


def write_sequence(root: Path, name: str, t: int, h: int, w: int, rng: np.random.Generator,
                   *, ends_missing: bool = True) -> Fabricated:
    k = int(name[0]) if name[:1].isdigit() else 1
    dirs = {d: root / d / name for d in
            ("JPEGImages", "AmodalAnnotations", "Flows_gap1", "Flows_gap-1")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    masks = rectangles(rng, k, t, h, w)
    flows = rng.normal(0, 3, (t, 2, h, w, 2)).astype(np.float32)
    frames = tuple(f"{f:05d}" for f in range(t))
    yy, xx = np.mgrid[:h, :w]
    for f, stem in enumerate(frames):
        rgb = np.stack([(xx * 7 + f * 5) % 256, (yy * 5) % 256, (xx + yy) % 256], -1)
        Image.fromarray(rgb.astype(np.uint8)).save(dirs["JPEGImages"] / f"{stem}.jpg", quality=95)
        for obj in range(k):
            Image.fromarray(masks[obj, f].astype(np.uint8) * 255).save(
                dirs["AmodalAnnotations"] / f"{obj + 1}_{stem}.png")
        for gap, folder in enumerate(("Flows_gap1", "Flows_gap-1")):
            if ends_missing and f == (t - 1 if gap == 0 else 0):
                flows[f, gap] = np.nan
                continue
            write_flo(dirs[folder] / f"{stem}.flo", flows[f, gap])
    return Fabricated(name, masks, flows, frames)


def write_released(root: Path, specs, rng: np.random.Generator, *,
                   ends_missing: bool = True) -> dict[str, Fabricated]:
    """Sequences (name, T, H, W) under `root` in the released layout; {name: Fabricated}."""
    root.mkdir(parents=True, exist_ok=True)
    for d in ("JPEGImages", "AmodalAnnotations", "Flows_gap1", "Flows_gap-1"):
        (root / d).mkdir(exist_ok=True)
    return {name: write_sequence(root, name, t, h, w, rng, ends_missing=ends_missing)
            for name, t, h, w in specs}
