"""Sprite shapes in canonical coordinates: polygons, silhouettes, masks and TPS control points.

Canonical coordinates are pixels of the undeformed sprite at unit scale, origin at its centre, x to
the right, y down. A `SpriteMask` stores the shape as a signed distance field `sdf` on a grid of
mask pixels, (column, row) = c * scale + origin, in canonical pixels, positive inside. The render
kernels read it bilinearly at the canonical point of a pixel centre: the shape is {sdf > 0} (a
smooth outline, no staircase of mask pixels), and the value, turned into image pixels by the local
stretch of the map, gives the pixel's area coverage (`render.composition`). `mask` is the same
shape at the mask pixel centres (sdf > 0 there), for bounds and clearances.

Polygons get their exact signed distance. Silhouettes are binary images whose outline is the
boundary between covered and uncovered mask pixels; they are first opened (eroded, then dilated)
by a disc of `SILHOUETTE_OPENING` image pixels (at the smallest size the sprite takes in its
clip), and pieces smaller than a few image pixels are dropped: filaments, spurs and crumbs
narrower than about 1.5 image pixels, which sampling at pixel centres turns into 1-px specks
beside the shape, are not part of the shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np
import shapely
from scipy import ndimage

from layersynth.motion import detmath

POLYGON_MASK_SCALE = 2.0  # polygons are rasterised at 2 mask pixels per canonical pixel
_ANGLE_JITTER = 0.25  # vertex angles jitter by this fraction of the even spacing 2 pi / n
# A non-convex polygon covers at most this share of its convex hull: a visible concavity, not a
# vertex a hair inside the hull.
NONCONVEX_SOLIDITY = 0.95
# Radius (image px at the smallest size a sprite takes in its clip; canonical px by default) of
# the disc a silhouette is opened by: a feature narrower than about 1.5 pixels breaks into specks
# when sampled at pixel centres (0.5 left 3x, 1.0 0.4x the specks of 0.75 on oclr data).
SILHOUETTE_OPENING = 0.75
_MIN_PIECE = 7.0  # x opening^2: smaller pieces left by the opening (~4 px^2 at 0.75) go too
_SILHOUETTE_PAD = 2  # uncovered mask pixels added around a silhouette: room for edge coverage


@dataclass(frozen=True, eq=False)
class SpriteMask:
    """sdf (h, w) float64, canonical px, positive inside, read bilinearly; mask pixel (col, row) =
    c * scale + origin (canonical c = (x, y)); mask (h, w) bool = sdf > 0 at mask pixel centres.
    The grid's border pixels are outside the shape (sdf < 0)."""

    sdf: np.ndarray
    scale: float
    origin: tuple[float, float]
    mask: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        sdf = readonly(np.asarray(self.sdf, dtype=np.float64))
        object.__setattr__(self, "sdf", sdf)
        object.__setattr__(self, "mask", readonly(sdf > 0.0))

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """Reference lookup: (..., 2) canonical points -> (...,) float64 bilinear sdf (what the
        kernels read; the shape covers a point where it is > 0), -inf outside the grid."""
        p = np.asarray(points, dtype=np.float64)
        mx = p[..., 0] * self.scale + self.origin[0]
        my = p[..., 1] * self.scale + self.origin[1]
        h, w = self.sdf.shape
        ok = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
        mx, my = np.where(ok, mx, 0.0), np.where(ok, my, 0.0)
        m0, n0 = np.minimum(mx.astype(np.int64), w - 2), np.minimum(my.astype(np.int64), h - 2)
        fx, fy = mx - m0, my - n0
        s = self.sdf
        top = s[n0, m0] + (s[n0, m0 + 1] - s[n0, m0]) * fx
        bot = s[n0 + 1, m0] + (s[n0 + 1, m0 + 1] - s[n0 + 1, m0]) * fx
        return np.where(ok, top + (bot - top) * fy, -np.inf)

    def covers(self, points: np.ndarray) -> np.ndarray:
        """(..., 2) canonical points -> (...,) bool: the shape holds them (sdf > 0)."""
        return self.signed_distance(points) > 0.0

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


def polygon_sdf(polygons: list[np.ndarray], shape: tuple[int, int], scale: float,
                origin: tuple[float, float]) -> np.ndarray:
    """(h, w) float64 signed distance (canonical px, positive inside) of the union of polygons
    (each by the even-odd rule, as `rasterise`) at the mask pixel centres: the largest of the
    polygons' own fields (exact outside the union; inside, it never reads an edge buried in
    another polygon)."""
    out = np.full(shape, -np.inf)
    for poly in polygons:
        np.maximum(out, _polygon_field(np.ascontiguousarray(poly, dtype=np.float64), shape[0],
                                       shape[1], float(scale), float(origin[0]),
                                       float(origin[1])), out=out)
    return out


@numba.njit(cache=True)
def _polygon_field(poly, h, w, scale, ox, oy):
    """(h, w) signed distance to one (n, 2) polygon's outline, + inside (even-odd crossings)."""
    out = np.empty((h, w))
    n = poly.shape[0]
    for row in range(h):
        for col in range(w):
            x, y = (col - ox) / scale, (row - oy) / scale
            best, inside = np.inf, False
            for k in range(n):
                x0, y0 = poly[k, 0], poly[k, 1]
                x1, y1 = poly[(k + 1) % n, 0], poly[(k + 1) % n, 1]
                if y0 != y1 and (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
                    inside = not inside
                dx, dy = x1 - x0, y1 - y0
                t = ((x - x0) * dx + (y - y0) * dy) / max(dx * dx + dy * dy, 1e-300)
                t = min(max(t, 0.0), 1.0)
                ex, ey = x - x0 - t * dx, y - y0 - t * dy
                best = min(best, ex * ex + ey * ey)
            out[row, col] = np.sqrt(best) if inside else -np.sqrt(best)
    return out


def polygon_mask(polygons: list[np.ndarray], scale: float = POLYGON_MASK_SCALE) -> SpriteMask:
    """The SpriteMask of polygons (canonical vertices), exact distances, with a margin."""
    allv = np.concatenate(polygons)
    lo, hi = allv.min(axis=0), allv.max(axis=0)
    origin = (2.0 - lo[0] * scale, 2.0 - lo[1] * scale)
    w, h = (np.ceil((hi - lo) * scale).astype(int) + 5).tolist()
    return SpriteMask(polygon_sdf(polygons, (h, w), scale, origin), scale, origin)


def silhouette_mask(silhouette: np.ndarray, radius: float,
                    opening: float = SILHOUETTE_OPENING) -> SpriteMask:
    """A (h, w) bool silhouette scaled so that its longer side spans 2 * radius canonical pixels,
    opened by a disc of `opening` canonical px (the renderer passes half an image pixel at the
    smallest size the sprite takes in its clip), without the pieces smaller than 7 opening^2,
    in a grid padded by _SILHOUETTE_PAD uncovered pixels; a silhouette the opening would wipe out
    entirely is kept unopened (an object never loses its whole shape)."""
    h, w = silhouette.shape
    scale = max(h, w) / (2.0 * radius)
    pad = _SILHOUETTE_PAD
    sil = np.pad(np.asarray(silhouette, dtype=bool), pad)
    opened = ndimage.binary_opening(sil, structure=_disc(opening * scale))
    kept = _without_small_pieces(opened, _MIN_PIECE * (opening * scale) ** 2)
    if not kept.any():  # a shape thinner than the opening everywhere: keep it as it is drawn
        kept = sil
    return SpriteMask(binary_sdf(kept) / scale, scale, ((w - 1) / 2.0 + pad, (h - 1) / 2.0 + pad))


def _without_small_pieces(mask: np.ndarray, min_area: float) -> np.ndarray:
    """(h, w) bool without its 8-connected pieces of fewer than min_area pixels."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    area = np.bincount(labels.ravel(), minlength=n + 1)
    keep = area >= min_area
    keep[0] = False
    return keep[labels]


def binary_sdf(mask: np.ndarray) -> np.ndarray:
    """(h, w) bool -> (h, w) float64 signed distance in mask pixels to the boundary between
    covered and uncovered pixels (half way between their centres), positive inside."""
    if not mask.any():
        return np.full(mask.shape, -1e9)
    inside = ndimage.distance_transform_edt(mask) - 0.5
    outside = ndimage.distance_transform_edt(~mask) - 0.5
    return np.where(mask, inside, -outside)


def _disc(radius: float) -> np.ndarray:
    """The structuring element of the grid offsets within max(radius, 1) of the centre."""
    r = max(radius, 1.0)
    n = int(np.floor(r))
    dy, dx = np.mgrid[-n:n + 1, -n:n + 1]
    return dx * dx + dy * dy <= r * r + 1e-9


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
