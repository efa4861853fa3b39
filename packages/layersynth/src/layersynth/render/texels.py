"""Texel lookup inside the render kernels (numba, inlined into their pixel loops).

A texture is passed as `tex, levels, wrap`, the fields of a layersynth.render.mipmap.MipTexture:
data (N,) uint8, level l's (h_l, w_l, 3) texels from tex[levels[l, 0]]. Coordinates are level-0
texture coordinates (u, v); level l is read at (u + 0.5) / 2^l - 0.5. These helpers take scalars
or index their arrays in place and are inlined at numba IR level (inline="always"): the kernels'
lookups cost what code written out in the loop would (layersynth.render.kernels).
`layersynth.render.textures.sample` is the numpy reference. numba's cache does not follow
inlined code across files: after editing this module, touch kernels.py (or clear its
__pycache__) so the kernels recompile.
"""

from __future__ import annotations

import numba
import numpy as np

LOD_BIAS = 0.0  # added to a minified pixel's level of detail (> 0 blurs more, < 0 aliases more)
_RHO2_SHARP = 4.0 ** -LOD_BIAS  # footprints (squared texels) up to this read level 0 alone


@numba.njit(cache=True, inline="always")
def mirror(u, n):
    """Fold coordinate u into [0, n - 1] by mirroring at both ends (period 2 (n - 1))."""
    if 0.0 <= u <= n - 1:  # the common case: skip the (slow) floating-point modulo
        return u
    period = 2.0 * (n - 1)
    u = abs(u) % period
    return period - u if u > n - 1 else u


@numba.njit(cache=True, inline="always")
def wrap_coord(u, n):
    """u mod n, in [0, n)."""
    if 0.0 <= u < n:  # the common case: skip the division
        return u
    u -= n * np.floor(u / n)
    return u if u < n else 0.0


@numba.njit(cache=True, inline="always")
def bilinear(tex, levels, lvl, wrap, u, v):
    """Level `lvl`'s bilinear texel (3 floats) at level-0 texture coordinates (u, v)."""
    start, h, w = levels[lvl, 0], levels[lvl, 1], levels[lvl, 2]
    if lvl > 0:
        s = w / levels[0, 2]
        u, v = (u + 0.5) * s - 0.5, (v + 0.5) * s - 0.5
    return bilinear_at(tex, start, h, w, wrap, u, v)


@numba.njit(cache=True, inline="always")
def bilinear_at(tex, start, h, w, wrap, u, v):
    """The bilinear texel (3 floats) at (u, v) of the (h, w, 3) level stored from tex[start]."""
    if wrap:
        u, v = wrap_coord(u, w), wrap_coord(v, h)
        u0, v0 = int(u), int(v)
        u1 = u0 + 1 if u0 + 1 < w else 0
        v1 = v0 + 1 if v0 + 1 < h else 0
    else:
        u, v = mirror(u, w), mirror(v, h)
        u0, v0 = min(int(u), w - 2), min(int(v), h - 2)
        u1, v1 = u0 + 1, v0 + 1
    fu, fv = u - u0, v - v0
    a, b = start + (v0 * w + u0) * 3, start + (v0 * w + u1) * 3
    c, d = start + (v1 * w + u0) * 3, start + (v1 * w + u1) * 3
    r = (tex[a] * (1.0 - fu) + tex[b] * fu) * (1.0 - fv) + (tex[c] * (1.0 - fu) + tex[d] * fu) * fv
    a, b, c, d = a + 1, b + 1, c + 1, d + 1
    g = (tex[a] * (1.0 - fu) + tex[b] * fu) * (1.0 - fv) + (tex[c] * (1.0 - fu) + tex[d] * fu) * fv
    a, b, c, d = a + 1, b + 1, c + 1, d + 1
    bl = (tex[a] * (1.0 - fu) + tex[b] * fu) * (1.0 - fv) + (tex[c] * (1.0 - fu) + tex[d] * fu) * fv
    return r, g, bl


@numba.njit(cache=True, inline="always")
def footprint(hinv, aff, x, y, qx, qy, i00, i01, i10, i11):
    """Squared longer side, in texels, of pixel (x, y)'s footprint: q = H^-1 (x, y) and its
    derivative, then through the inverse Jacobian (i00 .. i11) of the deformation and `aff`."""
    wq = hinv[2, 0] * x + hinv[2, 1] * y + hinv[2, 2]
    qxx, qxy = (hinv[0, 0] - qx * hinv[2, 0]) / wq, (hinv[0, 1] - qx * hinv[2, 1]) / wq
    qyx, qyy = (hinv[1, 0] - qy * hinv[2, 0]) / wq, (hinv[1, 1] - qy * hinv[2, 1]) / wq
    cxx, cyx = i00 * qxx + i01 * qyx, i10 * qxx + i11 * qyx  # dc / dx
    cxy, cyy = i00 * qxy + i01 * qyy, i10 * qxy + i11 * qyy  # dc / dy
    tux, tvx = aff[0, 0] * cxx + aff[0, 1] * cyx, aff[1, 0] * cxx + aff[1, 1] * cyx
    tuy, tvy = aff[0, 0] * cxy + aff[0, 1] * cyy, aff[1, 0] * cxy + aff[1, 1] * cyy
    return max(tux * tux + tvx * tvx, tuy * tuy + tvy * tvy)


@numba.njit(cache=True, inline="always")
def level_of(levels, rho2):
    """(base level, blend f) for a footprint of sqrt(rho2) texels: level 0 alone up to one
    texel, else lod = log2 sqrt(rho2) + LOD_BIAS, levels floor(lod) and floor(lod) + 1 blended by
    its fraction, the coarsest level alone beyond it (layersynth.render.textures.sample)."""
    top = levels.shape[0] - 1
    if rho2 <= _RHO2_SHARP or top == 0:
        return 0, 0.0
    lod = 0.5 * np.log2(rho2) + LOD_BIAS
    if lod <= 0.0:
        return 0, 0.0
    base = min(int(lod), top)
    return base, (lod - base if base < top else 0.0)


@numba.njit(cache=True, inline="always")
def filtered_texel(tex, levels, wrap, u, v, base, f):
    """The filtered texel (3 floats) at level-0 coordinates (u, v): level `base`, blended with
    the next one by f when f > 0."""
    near = bilinear(tex, levels, base, wrap, u, v)
    if f <= 0.0:
        return near
    far = bilinear(tex, levels, base + 1, wrap, u, v)
    return (near[0] * (1.0 - f) + far[0] * f, near[1] * (1.0 - f) + far[1] * f,
            near[2] * (1.0 - f) + far[2] * f)
