"""The built-in silhouette bank: 320 procedural shapes with limbs, holes, thin parts, concavities.

Eight families, drawn in turn: four-legged animals, people, branching plants, rings (with spokes or
a handle), letter-like strokes, many-legged creatures, perforated blobs and winged bodies. Each
shape is a union (and, for holes, difference) of primitives evaluated at the pixel centres of a
`GRID` x `GRID` canvas spanning [-1, 1]^2: capsules (thick segments, optionally tapered) and
ellipses. Only IEEE arithmetic and the C library's cos/sin of a few scalars enter, and every shape
draws from its own PCG64 stream `default_rng([SEED, i])`, so the bank is the same bits on every
machine; the largest 8-connected component is kept and cropped to its box.

The bank is built once per machine and cached as a compressed .npz named by `cache_key()` (version,
seed, count, grid) under $XDG_CACHE_HOME/layersynth (or ~/.cache/layersynth); a cache whose content
digest does not match its header is rebuilt. `shape_stats` measures a shape (solidity through
shapely, holes) for tests and docs.
"""

from __future__ import annotations

import hashlib
import math
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import shapely
from scipy import ndimage

from layersynth.assets import bank_cache
from layersynth.assets.silhouette_bank import pack

SHAPES_VERSION = 1  # bump when any shape changes: it is part of the cache key
SEED = 20261213
COUNT = 320
GRID = 128
_EIGHT = np.ones((3, 3), bool)

_YY, _XX = (np.mgrid[0:GRID, 0:GRID] + 0.5) * (2.0 / GRID) - 1.0  # pixel centres in [-1, 1]


def cache_key() -> str:
    return f"procedural-shapes-v{SHAPES_VERSION}-s{SEED}-n{COUNT}-g{GRID}"


# ----------------------------------------------------------------------------- primitives


def capsule(p0, p1, r0: float, r1: float | None = None) -> np.ndarray:
    """(GRID, GRID) bool: points within r(t) of segment p0 -> p1, r tapering from r0 to r1."""
    r1 = r0 if r1 is None else r1
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    ax, ay = _XX - p0[0], _YY - p0[1]
    t = np.clip((ax * dx + ay * dy) / max(dx * dx + dy * dy, 1e-12), 0.0, 1.0)
    ex, ey = ax - t * dx, ay - t * dy
    r = r0 + t * (r1 - r0)
    return ex * ex + ey * ey < r * r


def ellipse(c, ax: float, ay: float, angle: float = 0.0) -> np.ndarray:
    """(GRID, GRID) bool: the ellipse of half-axes (ax, ay) at c, rotated by `angle`."""
    cos, sin = math.cos(angle), math.sin(angle)
    x, y = _XX - c[0], _YY - c[1]
    u, v = (x * cos + y * sin) / ax, (-x * sin + y * cos) / ay
    return u * u + v * v < 1.0


def polyline(points, r0: float, r1: float | None = None) -> np.ndarray:
    """Capsules along consecutive points, the radius tapering from r0 to r1 over the whole line."""
    r1 = r0 if r1 is None else r1
    out = np.zeros((GRID, GRID), bool)
    n = len(points) - 1
    for k in range(n):
        out |= capsule(points[k], points[k + 1], r0 + (r1 - r0) * k / n,
                       r0 + (r1 - r0) * (k + 1) / n)
    return out


def _limb(rng, start, angle: float, length: float, segments: int, bend: float) -> list:
    """Joint points of a limb from `start`, each segment turning by up to `bend` radians."""
    points, (x, y) = [tuple(start)], start
    for _ in range(segments):
        angle += rng.uniform(-bend, bend)
        x, y = x + length / segments * math.cos(angle), y + length / segments * math.sin(angle)
        points.append((x, y))
    return points


# ----------------------------------------------------------------------------- families


def _quadruped(rng) -> np.ndarray:
    bw, bh = rng.uniform(0.35, 0.55), rng.uniform(0.14, 0.24)
    m = ellipse((0.0, -0.1), bw, bh, rng.uniform(-0.15, 0.15))
    leg, thick = rng.uniform(0.35, 0.6), rng.uniform(0.035, 0.07)
    for x in (-0.8, -0.55, 0.55, 0.8):
        m |= polyline(_limb(rng, (x * bw, -0.05), math.pi / 2, leg, 2, 0.4), thick, 0.7 * thick)
    side = 1.0 if rng.random() < 0.5 else -1.0
    neck = _limb(rng, (side * 0.85 * bw, -0.15), -math.pi / 2 + side * rng.uniform(0.4, 1.0),
                 rng.uniform(0.2, 0.35), 1, 0.2)
    m |= polyline(neck, 1.3 * thick) | ellipse(neck[-1], rng.uniform(0.09, 0.16),
                                               rng.uniform(0.06, 0.1), rng.uniform(0, math.pi))
    tail = _limb(rng, (-side * 0.95 * bw, -0.15), math.pi / 2 - side * rng.uniform(0.8, 2.0),
                 rng.uniform(0.2, 0.45), 3, 0.5)
    return m | polyline(tail, 0.6 * thick, 0.25 * thick)


def _person(rng) -> np.ndarray:
    top, hip, sh = -0.45, rng.uniform(0.05, 0.2), rng.uniform(0.1, 0.18)
    m = capsule((0.0, top), (0.0, hip), rng.uniform(0.1, 0.16))
    m |= ellipse((rng.uniform(-0.03, 0.03), top - 0.22), 0.11, 0.13)
    for s in (-1.0, 1.0):
        arm = _limb(rng, (s * sh, top + 0.05), math.pi / 2 - s * rng.uniform(0.2, 1.4),
                    rng.uniform(0.4, 0.55), 2, 0.7)
        m |= polyline(arm, 0.05, 0.035)
        leg = _limb(rng, (s * 0.07, hip), math.pi / 2 - s * rng.uniform(0.05, 0.5),
                    rng.uniform(0.5, 0.7), 2, 0.4)
        m |= polyline(leg, 0.065, 0.045)
    return m


def _plant(rng) -> np.ndarray:
    m = np.zeros((GRID, GRID), bool)
    stack = [((rng.uniform(-0.1, 0.1), 0.9), -math.pi / 2 + rng.uniform(-0.2, 0.2), 0.75, 0.07, 0)]
    while stack:
        start, angle, length, r, depth = stack.pop()
        pts = _limb(rng, start, angle, length, 2, 0.25)
        m |= polyline(pts, r, 0.7 * r)
        if depth < 3:
            for _ in range(int(rng.integers(2, 4))):
                stack.append((pts[-1], angle + rng.uniform(-1.0, 1.0), 0.6 * length, 0.65 * r,
                              depth + 1))
    return m


def _ring(rng) -> np.ndarray:
    ax, ay, a = rng.uniform(0.5, 0.9), rng.uniform(0.4, 0.9), rng.uniform(0, math.pi)
    inner = rng.uniform(0.45, 0.75)
    m = ellipse((0.0, 0.0), ax, ay, a) & ~ellipse((0.0, 0.0), inner * ax, inner * ay, a)
    if rng.random() < 0.5:  # spokes: several holes
        for _ in range(int(rng.integers(1, 4))):
            t = rng.uniform(0, math.pi)
            d = (ax * math.cos(t), ay * math.sin(t))
            m |= capsule((-d[0], -d[1]), d, rng.uniform(0.04, 0.08))
    else:  # a handle
        t = rng.uniform(0, 2 * math.pi)
        p0 = (0.9 * ax * math.cos(t), 0.9 * ay * math.sin(t))
        m |= capsule(p0, (1.6 * p0[0], 1.6 * p0[1]), rng.uniform(0.06, 0.12))
    return m


def _strokes(rng) -> np.ndarray:
    r = rng.uniform(0.07, 0.13)
    points = [tuple(rng.uniform(-0.6, 0.6, 2))]
    m = np.zeros((GRID, GRID), bool)
    for _ in range(int(rng.integers(3, 7))):
        nxt = tuple(rng.uniform(-0.8, 0.8, 2))
        if rng.random() < 0.3:  # a loop: a hole like the bowl of a letter
            m |= ellipse(points[-1], rng.uniform(0.25, 0.4), rng.uniform(0.25, 0.4)) & ~ellipse(
                points[-1], rng.uniform(0.1, 0.18), rng.uniform(0.1, 0.18))
        m |= capsule(points[-1], nxt, r)
        points.append(points[int(rng.integers(len(points)))] if rng.random() < 0.3 else nxt)
    return m


def _crawler(rng) -> np.ndarray:
    body = rng.uniform(0.15, 0.28)
    m = ellipse((0.0, 0.0), body, body * rng.uniform(0.6, 1.0), rng.uniform(0, math.pi))
    n = int(rng.integers(5, 9))
    for k in range(n):
        a = 2 * math.pi * (k + rng.uniform(-0.2, 0.2)) / n
        pts = _limb(rng, (0.0, 0.0), a, rng.uniform(0.55, 0.85), 3, 0.6)
        m |= polyline(pts, rng.uniform(0.04, 0.07), 0.02)
    return m


def _perforated(rng) -> np.ndarray:
    m = np.zeros((GRID, GRID), bool)
    for _ in range(int(rng.integers(2, 5))):
        m |= ellipse(tuple(rng.uniform(-0.3, 0.3, 2)), rng.uniform(0.3, 0.6),
                     rng.uniform(0.25, 0.5), rng.uniform(0, math.pi))
    for _ in range(int(rng.integers(1, 4))):
        m &= ~ellipse(tuple(rng.uniform(-0.3, 0.3, 2)), rng.uniform(0.06, 0.15),
                      rng.uniform(0.06, 0.15), rng.uniform(0, math.pi))
    a = rng.uniform(0, 2 * math.pi)  # a notch cut in from outside: a concave bay
    return m & ~capsule((math.cos(a), math.sin(a)), (0.3 * math.cos(a), 0.3 * math.sin(a)),
                        rng.uniform(0.08, 0.16))


def _winged(rng) -> np.ndarray:
    m = ellipse((0.0, 0.0), rng.uniform(0.35, 0.55), rng.uniform(0.09, 0.15))
    for s in (-1.0, 1.0):
        tip = (rng.uniform(-0.3, 0.3), s * rng.uniform(0.6, 0.9))
        m |= polyline([(0.1, 0.0), (tip[0] * 0.5, tip[1] * 0.5), tip], 0.16, 0.03)
    tail = (-rng.uniform(0.6, 0.85), 0.0)
    m |= capsule((-0.3, 0.0), tail, 0.05, rng.uniform(0.08, 0.15))
    return m | ellipse((0.55, rng.uniform(-0.08, 0.0)), 0.12, 0.1)


FAMILIES = (_quadruped, _person, _plant, _ring, _strokes, _crawler, _perforated, _winged)


# ----------------------------------------------------------------------------- the bank


def make_shape(i: int) -> np.ndarray:
    """Shape i of the bank: (h, w) bool, one 8-connected component, cropped to its box."""
    rng = np.random.default_rng([SEED, i])
    mask = FAMILIES[i % len(FAMILIES)](rng)
    labels, n = ndimage.label(mask, structure=_EIGHT)
    if n > 1:
        mask = labels == 1 + int(np.argmax(np.bincount(labels.ravel())[1:]))
    ys, xs = np.nonzero(mask)
    return np.ascontiguousarray(mask[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1])


def build() -> list[np.ndarray]:
    """All COUNT shapes, in order (a few seconds)."""
    return [make_shape(i) for i in range(COUNT)]


def digest(masks: list[np.ndarray]) -> str:
    h = hashlib.sha256()
    for m in masks:
        h.update(repr(m.shape).encode())
        h.update(np.packbits(m.ravel()).tobytes())
    return h.hexdigest()


def shape_stats(mask: np.ndarray) -> tuple[float, int]:
    """(solidity, holes) of a (h, w) bool shape: area / convex-hull area (hull of the covered
    pixels' squares, through shapely) and the number of background components it encloses."""
    ys, xs = np.nonzero(mask)
    corners = np.concatenate([np.stack([xs + dx, ys + dy], 1) for dx in (0, 1) for dy in (0, 1)])
    hull = shapely.MultiPoint(corners.astype(np.float64)).convex_hull
    _, holes = ndimage.label(ndimage.binary_fill_holes(mask) & ~mask)
    return float(len(xs)) / max(hull.area, 1.0), int(holes)


def cache_path(cache_dir: str | os.PathLike | None = None) -> Path:
    return bank_cache.cache_file(cache_key(), cache_dir)


def load_or_build(cache_dir: str | os.PathLike | None = None) -> list[np.ndarray]:
    """The bank from its cache file, or built (and cached) when the file is missing or wrong."""
    path = cache_path(cache_dir)
    masks = _load(path)
    if masks is None:
        masks = build()
        _save(masks, path)
    return masks


@lru_cache(maxsize=1)
def builtin_shapes() -> tuple[np.ndarray, ...]:
    """The bank of this process (loaded once), read-only masks."""
    masks = load_or_build()
    for m in masks:
        m.setflags(write=False)
    return tuple(masks)


def _load(path: Path) -> list[np.ndarray] | None:
    """The cached masks, or None for a cache that is missing, damaged (truncated, not an npz,
    inconsistent arrays) or of another key or content: the caller rebuilds it."""
    cached = bank_cache.read(path, cache_key())
    if cached is None:
        return None
    (arrays, sha256) = cached
    try:
        bits, shapes, offsets = arrays["bits"], arrays["shapes"], arrays["offsets"]
        masks = [np.unpackbits(bits[offsets[i]: offsets[i + 1]], count=int(h * w)).reshape(
            int(h), int(w)).astype(bool) for i, (h, w) in enumerate(shapes)]
    except (KeyError, ValueError, IndexError, TypeError):
        return None
    return masks if sha256 == digest(masks) else None


def _save(masks: list[np.ndarray], path: Path) -> None:
    bits, shapes, offsets = pack(masks)
    bank_cache.write(path, cache_key(), digest(masks),
                     {"bits": bits, "shapes": shapes, "offsets": offsets}, compressed=True,
                     what="procedural silhouette bank")
