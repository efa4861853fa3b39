"""Primitives of the procedural texture bank: value noise, fractal sums, cells, colour ramps.

Every function is elementwise IEEE arithmetic (+ - * /, floor, sqrt, min/max) on float64 arrays
indexed by gathers, with no exp/sin/pow on arrays (numpy picks SIMD versions of those by CPU), no
FFT and no BLAS: the same bits on every machine. Images are (SIZE, SIZE) float64 fields or
(SIZE, SIZE, 3) float64 colours in [0, 1]. Lattices are not tiled, so nothing repeats.
"""

from __future__ import annotations

import numpy as np

SIZE = 256


def _fade(t: np.ndarray) -> np.ndarray:
    return t * t * (3.0 - 2.0 * t)  # smoothstep: C1 value noise without trigonometry


def value_noise(rng: np.random.Generator, cells_y: float, cells_x: float) -> np.ndarray:
    """(SIZE, SIZE) in [-1, 1]: random lattice values, smoothstep-interpolated, separably.

    cells_y, cells_x: lattice cells across the image (non-integer, randomly offset)."""
    gy, gx = int(cells_y) + 3, int(cells_x) + 3
    lattice = rng.uniform(-1.0, 1.0, (gy, gx))
    oy, ox = rng.uniform(0.0, 1.0, 2)
    y = (np.arange(SIZE) + 0.5) * (cells_y / SIZE) + oy
    x = (np.arange(SIZE) + 0.5) * (cells_x / SIZE) + ox
    iy, ix = np.floor(y).astype(np.intp), np.floor(x).astype(np.intp)
    fy, fx = _fade(y - iy), _fade(x - ix)
    rows = lattice[:, ix] * (1.0 - fx) + lattice[:, ix + 1] * fx  # (gy, SIZE)
    return rows[iy] * (1.0 - fy)[:, None] + rows[iy + 1] * fy[:, None]


def noise_at(rng: np.random.Generator, y: np.ndarray, x: np.ndarray, cells: float) -> np.ndarray:
    """Value noise in [-1, 1] at arbitrary pixel coordinates (y, x) (warped sampling)."""
    lo = min(float(y.min()), float(x.min())) * cells / SIZE
    hi = max(float(y.max()), float(x.max())) * cells / SIZE
    n = int(hi - np.floor(lo)) + 3
    lattice = rng.uniform(-1.0, 1.0, (n, n))
    u, v = y * (cells / SIZE) - np.floor(lo), x * (cells / SIZE) - np.floor(lo)
    iu, iv = np.floor(u).astype(np.intp), np.floor(v).astype(np.intp)
    fu, fv = _fade(u - iu), _fade(v - iv)
    top = lattice[iu, iv] * (1.0 - fv) + lattice[iu, iv + 1] * fv
    bottom = lattice[iu + 1, iv] * (1.0 - fv) + lattice[iu + 1, iv + 1] * fv
    return top * (1.0 - fu) + bottom * fu


def fbm(rng: np.random.Generator, cells: float, octaves: int, gain: float = 0.5,
        aspect: float = 1.0, ridged: bool = False) -> np.ndarray:
    """(SIZE, SIZE) fractal sum of value-noise octaves, each ~2.1x finer (a non-integer ratio, so
    octave lattices never align). aspect > 1 stretches features along y (grain); ridged sums
    1 - |n| (veins)."""
    out, amp, c = np.zeros((SIZE, SIZE)), 1.0, cells
    for _ in range(octaves):
        n = value_noise(rng, c * aspect, c)
        out += amp * ((1.0 - np.abs(n)) if ridged else n)
        amp, c = amp * gain, c * rng.uniform(1.9, 2.3)
    return out


def unit(field: np.ndarray) -> np.ndarray:
    """Stretched to [0, 1] by its min and max."""
    lo, hi = float(field.min()), float(field.max())
    return (field - lo) / max(hi - lo, 1e-12)


def cells(rng: np.random.Generator, count: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Worley cells of a jittered grid (one random point per cell, `count` cells across).

    Returns (f1, f2, index): distances in cell units to the nearest and second-nearest points, and
    a (SIZE, SIZE) int id of the nearest point's cell."""
    g = int(count) + 3
    px, py = rng.uniform(0.0, 1.0, (2, g, g))
    t = (np.arange(SIZE) + 0.5) * (count / SIZE) + 1.0  # a ring of cells beyond every edge
    iy, ix = np.floor(t).astype(np.intp)[:, None], np.floor(t).astype(np.intp)[None, :]
    y, x = t[:, None], t[None, :]
    f1 = np.full((SIZE, SIZE), np.inf)
    f2, index = f1.copy(), np.zeros((SIZE, SIZE), np.intp)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            cy, cx = iy + dy, ix + dx
            ddy, ddx = cy + py[cy, cx] - y, cx + px[cy, cx] - x
            d = np.sqrt(ddy * ddy + ddx * ddx)
            nearer = d < f1
            f2 = np.where(nearer, f1, np.minimum(f2, d))
            index = np.where(nearer, cy * g + cx, index)
            f1 = np.where(nearer, d, f1)
    return f1, f2, index


def hsv(h: float, s: float, v: float) -> np.ndarray:
    """(3,) RGB in [0, 1] of hue h in [0, 1), saturation s, value v (piecewise linear)."""
    k = (np.array([5.0, 3.0, 1.0]) + 6.0 * h) % 6.0
    return v - v * s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def palette(rng: np.random.Generator, stops: int, spread: float, sat: tuple) -> np.ndarray:
    """(stops, 3) colours around a random hue (hues within +-spread/2), value rising from a dark
    first stop (0.08 to 0.45) to a light last one (0.6 to 1.0): every palette has contrast."""
    h0 = rng.uniform(0.0, 1.0)
    lo, hi = rng.uniform(0.08, 0.45), rng.uniform(0.6, 1.0)
    vals = lo + (hi - lo) * np.arange(stops) / (stops - 1)
    return np.stack([hsv((h0 + rng.uniform(-spread, spread) / 2) % 1.0, rng.uniform(*sat), v)
                     for v in vals])


def ramp(t: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """(SIZE, SIZE, 3): t in [0, 1] mapped piecewise-linearly through the (k, 3) colour stops."""
    k = len(colours) - 1
    s = np.clip(t, 0.0, 1.0) * k
    i = np.minimum(np.floor(s).astype(np.intp), k - 1)
    f = (s - i)[..., None]
    return colours[i] * (1.0 - f) + colours[i + 1] * f


def wave(phase: np.ndarray) -> np.ndarray:
    """A smooth periodic profile in [0, 1] of phase (in periods): a smoothstepped triangle."""
    tri = np.abs(2.0 * (phase - np.floor(phase)) - 1.0)
    return _fade(tri)


def soft_step(field: np.ndarray, threshold: float, width: float) -> np.ndarray:
    """0 below threshold - width/2, 1 above threshold + width/2, smooth between."""
    return _fade(np.clip((field - threshold) / width + 0.5, 0.0, 1.0))


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """(SIZE, SIZE, 3) float colours in [0, 1] -> uint8, C-contiguous."""
    return np.ascontiguousarray(np.rint(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8))
