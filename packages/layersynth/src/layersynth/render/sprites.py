"""Sprite shapes in canonical coordinates: polygons, silhouettes, masks and TPS control points.

Canonical coordinates are pixels of the undeformed sprite at unit scale, origin at its centre, x to
the right, y down. A `SpriteMask` stores the shape as a boolean image `mask` with mask pixel
(column, row) = c * scale + origin, looked up at the nearest pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from layersynth.motion import detmath

POLYGON_MASK_SCALE = 2.0  # polygons are rasterised at 2 mask pixels per canonical pixel
_ANGLE_JITTER = 0.25  # vertex angles jitter by this fraction of the even spacing 2 pi / n
# A non-convex polygon covers at most this share of its convex hull: a visible concavity, not a
# vertex a hair inside the hull.
NONCONVEX_SOLIDITY = 0.95


@dataclass(frozen=True, eq=False)
class SpriteMask:
    """mask (h, w) bool; mask pixel (col, row) = c * scale + origin (canonical c = (x, y))."""

    mask: np.ndarray
    scale: float
    origin: tuple[float, float]

    def __post_init__(self) -> None:
        object.__setattr__(self, "mask", readonly(self.mask))

    def extent(self) -> tuple[float, float, float, float]:
        """(x0, x1, y0, y1): the canonical rectangle the mask covers."""
        h, w = self.mask.shape
        ox, oy = self.origin
        return ((-0.5 - ox) / self.scale, (w - 0.5 - ox) / self.scale,
                (-0.5 - oy) / self.scale, (h - 0.5 - oy) / self.scale)


def readonly(a: np.ndarray) -> np.ndarray:
    """A read-only C-contiguous view (no copy when already contiguous; the base stays writable).

    The render kernels always receive read-only inputs: numba compiles one version per
    writability, and a second compile costs every worker process seconds."""
    v = np.ascontiguousarray(a).view()
    v.setflags(write=False)
    return v


def sample_polygon(rng: np.random.Generator, sides: tuple[int, int], radius: float,
                   min_gap: float, convex: bool) -> np.ndarray:
    """(n, 2) float64 vertices of a simple polygon with lo <= n <= hi, centred near 0.

    Vertices are star-shaped around the origin (angularly sorted); convex ones lie on the circle
    of `radius`; non-convex ones have n >= 4, one to n // 2 of them dented in to [0.15, 0.45] x
    radius, the rest at [0.75, 1] x radius (radii drawn from [0.4, 1] alone leave most pentagons
    and hexagons convex), redrawn until shapely finds the outline simple with solidity (area / hull
    area) <= NONCONVEX_SOLIDITY. Every pair of
    vertices is at least `min_gap * radius` apart (the paper's minimum vertex distance D_i).
    """
    lo = sides[0] if convex else max(sides[0], 4)
    if lo > sides[1]:
        raise ValueError(f"non-convex polygons need 4 or more sides, got sides {sides}")
    n = int(rng.integers(lo, sides[1] + 1))  # drawn once: rejection must not bias n
    step = 2 * np.pi / n
    for _ in range(1000):
        angles = rng.uniform(0, 2 * np.pi) + step * (np.arange(n) + rng.uniform(
            -_ANGLE_JITTER, _ANGLE_JITTER, n))
        radii = np.full(n, radius) if convex else _dented_radii(rng, n, radius)
        vertices = np.stack([radii * detmath.cos(angles), radii * detmath.sin(angles)], axis=1)
        if nearest_distance(vertices).min() < min_gap * radius:
            continue
        if convex or (is_simple(vertices) and solidity(vertices) <= NONCONVEX_SOLIDITY):
            return vertices
    raise RuntimeError(f"no {n}-gon with vertex gap {min_gap} found; lower min_vertex_gap")


def _dented_radii(rng: np.random.Generator, n: int, radius: float) -> np.ndarray:
    dents = rng.permutation(n)[: int(rng.integers(1, n // 2 + 1))]
    radii = rng.uniform(0.75, 1.0, n)
    radii[dents] = rng.uniform(0.15, 0.45, len(dents))
    return radius * radii


def is_simple(vertices: np.ndarray) -> bool:
    """True when the (n, 2) outline does not cross itself (shapely's validity)."""
    return bool(shapely.Polygon(vertices).is_valid)


def solidity(vertices: np.ndarray) -> float:
    """Area of the (n, 2) polygon over its convex hull's: 1 for convex, less with concavities."""
    poly = shapely.Polygon(vertices)
    return float(poly.area / poly.convex_hull.area)


def nearest_distance(points: np.ndarray) -> np.ndarray:
    """(n, 2) -> (n,) distance from each point to its nearest other point (the paper's D_i)."""
    diff = points[:, None, :] - points[None, :, :]
    d = np.sqrt(diff[..., 0] * diff[..., 0] + diff[..., 1] * diff[..., 1])
    np.fill_diagonal(d, np.inf)
    return d.min(axis=1)


def rasterise(polygons: list[np.ndarray], shape: tuple[int, int], scale: float,
              origin: tuple[float, float]) -> np.ndarray:
    """(h, w) bool: mask pixels whose canonical centre lies inside any polygon (even-odd rule)."""
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    x, y = (xs - origin[0]) / scale, (ys - origin[1]) / scale
    out = np.zeros(shape, dtype=bool)
    for poly in polygons:
        inside = np.zeros(shape, dtype=bool)
        for (x0, y0), (x1, y1) in zip(poly, np.roll(poly, -1, axis=0), strict=True):
            if y0 == y1:
                continue
            crosses = (y0 > y) != (y1 > y)
            inside ^= crosses & (x < x0 + (y - y0) * (x1 - x0) / (y1 - y0))
        out |= inside
    return out


def polygon_mask(polygons: list[np.ndarray], scale: float = POLYGON_MASK_SCALE) -> SpriteMask:
    """Rasterise polygons (canonical vertices) into a SpriteMask covering them with a margin."""
    allv = np.concatenate(polygons)
    lo, hi = allv.min(axis=0), allv.max(axis=0)
    origin = (2.0 - lo[0] * scale, 2.0 - lo[1] * scale)
    w, h = (np.ceil((hi - lo) * scale).astype(int) + 5).tolist()
    return SpriteMask(rasterise(polygons, (h, w), scale, origin), scale, origin)


def silhouette_mask(silhouette: np.ndarray, radius: float) -> SpriteMask:
    """A (h, w) bool silhouette scaled so that its longer side spans 2 * radius canonical pixels."""
    h, w = silhouette.shape
    return SpriteMask(np.ascontiguousarray(silhouette, dtype=bool), max(h, w) / (2.0 * radius),
                      ((w - 1) / 2.0, (h - 1) / 2.0))


def silhouette_grid(silhouette_shape: tuple[int, int], radius: float, g: int
                    ) -> tuple[np.ndarray, float]:
    """(g*g, 2) uniform control grid over a silhouette's canonical box, and its spacing D."""
    h, w = silhouette_shape
    scale = max(h, w) / (2.0 * radius)
    half_w, half_h = 0.5 * w / scale, 0.5 * h / scale
    xs = np.linspace(-half_w, half_w, g)
    ys = np.linspace(-half_h, half_h, g)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    return grid, float(min(xs[1] - xs[0], ys[1] - ys[0]))
