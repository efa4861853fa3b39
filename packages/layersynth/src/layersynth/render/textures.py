"""Texture mapping and colour: canonical coordinates -> texture pixels -> jittered colour.

A layer's texture is a crop/scale/flip of a source image: the canonical point c = (x, y) reads
texture pixel (u, v) = offset + scale * (flip_x * x, flip_y * y). A still texture is made seamless
and mip-mapped once (`layersynth.render.mipmap`) and addressed with wrapping (continuous, so
brightness constancy holds everywhere, with no mirror seams). The texel is filtered by the pixel's
footprint: bilinear on level 0 while a pixel covers at most one texel (magnified or 1:1),
trilinear (bilinear on two levels, blended) when the texture is minified, the level of detail
being log2 of the longer side of the pixel's footprint in texels (`level_of_detail`). A background
video's frames are read at level 0 only, mirrored at their edges. Colour is then
`gain_k * texel + bias`, gain_k = gain * (1 + amp * sin(freq * k + phase)) per channel at
phase-clock time k (continuous, nominal frames, `SceneParams.clock`: the photometric jitter is a
function of time, not of the frame index; amp = 0 turns it off). A layer's `Shading` holds
all of it, ready for the render kernels, which compute the same texel and colour inline
(`sample` is their reference).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from layersynth.motion import detmath
from layersynth.render import mipmap
from layersynth.render.kernels import LOD_BIAS
from layersynth.render.mipmap import MipTexture
from layersynth.render.sprites import readonly
from layersynth.scene.params import Appearance


@dataclass(frozen=True, eq=False)
class Shading:
    """A layer's texture (h, w, 3) uint8, or a clip (E, h, w, 3) of one texture per extended
    frame; its canonical -> texture map `aff` (2, 3); per-frame gains (E, 3); bias (3,).
    `mip` is the still texture's seamless pyramid (None for a clip)."""

    tex: np.ndarray
    aff: np.ndarray
    gains: np.ndarray
    bias: np.ndarray
    mip: MipTexture | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        if self.tex.ndim == 3:
            object.__setattr__(self, "mip", mipmap.cached(self.tex))

    def at(self, e: int) -> tuple:
        """(texels, levels, wrap, aff, gain (3,), bias): the kernels' colour arguments at
        extended frame e (see layersynth.render.mipmap.MipTexture)."""
        mip = mipmap.single(self.tex[e]) if self.mip is None else self.mip
        return (*mip.kernel_args(), self.aff, self.gains[e], self.bias)


def shading(a: Appearance, tex: np.ndarray, clock) -> Shading:
    """The Shading of appearance `a` over `tex`, gains at the extended frames' phase-clock times
    `clock` (E,) (`SceneParams.clock(SceneParams.taus)`), or a kept-frame count T for the clock
    of T frames at time step 1 and gaps (1,): 0 .. T + 1."""
    times = np.arange(clock + 2) if np.ndim(clock) == 0 else clock
    gains = frame_gains(a.gain, a.jitter_amp, a.jitter_freq, a.jitter_phase, times)
    return Shading(readonly(tex), texture_affine(a.offset, a.scale, a.flip),
                   np.ascontiguousarray(gains), np.asarray(a.bias, dtype=np.float64))


def texture_affine(offset, scale: float, flip) -> np.ndarray:
    """(2, 3) float64 map canonical (x, y, 1) -> texture (u, v)."""
    fx = -1.0 if flip[0] else 1.0
    fy = -1.0 if flip[1] else 1.0
    return np.array([[scale * fx, 0.0, offset[0]], [0.0, scale * fy, offset[1]]])


def frame_gains(gain, amp, freq: float, phase, times: np.ndarray) -> np.ndarray:
    """(3,), (3,), scalar, (3,), (N,) phase-clock times (nominal frames) -> (N, 3) float64
    gains."""
    k = np.asarray(times, dtype=np.float64)[:, None]
    return np.asarray(gain) * (1.0 + np.asarray(amp) * detmath.sin(freq * k + np.asarray(phase)))


def mirror(u: np.ndarray, n: int) -> np.ndarray:
    """Fold coordinates into [0, n - 1] by mirroring at both ends (period 2 (n - 1))."""
    period = 2.0 * (n - 1)
    u = np.abs(np.asarray(u, dtype=np.float64)) % period
    return np.where(u > n - 1, period - u, u)


def homography_jacobian(hinv: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """(3, 3) image -> canonical homography, (..., 2) pixels (x, y) -> (..., 2, 2) dc/dx: column
    0 the canonical step of one pixel along x, column 1 along y."""
    x, y = pixels[..., 0], pixels[..., 1]
    wgt = hinv[2, 0] * x + hinv[2, 1] * y + hinv[2, 2]
    cx = (hinv[0, 0] * x + hinv[0, 1] * y + hinv[0, 2]) / wgt
    cy = (hinv[1, 0] * x + hinv[1, 1] * y + hinv[1, 2]) / wgt
    rows = [[(hinv[r, k] - c * hinv[2, k]) / wgt for k in (0, 1)] for r, c in ((0, cx), (1, cy))]
    return np.stack([np.stack(row, -1) for row in rows], -2)


def level_of_detail(aff: np.ndarray, jac: np.ndarray) -> np.ndarray:
    """(2, 3) texture affine, (..., 2, 2) dc/dx -> (...,) level of detail: log2 of the longer
    side of the pixel's texel footprint (plus kernels.LOD_BIAS), 0 where it is at most 1."""
    t = np.einsum("ij,...jk->...ik", aff[:, :2], jac)  # (..., 2, 2) texels per pixel step
    rho2 = np.maximum((t[..., :, 0] ** 2).sum(-1), (t[..., :, 1] ** 2).sum(-1))
    lod = 0.5 * np.log2(np.maximum(rho2, 1e-300)) + LOD_BIAS
    return np.where(rho2 <= 4.0 ** -LOD_BIAS, 0.0, np.maximum(lod, 0.0))


def sample(mip: MipTexture, aff: np.ndarray, points: np.ndarray,
           jac: np.ndarray | None = None) -> np.ndarray:
    """Reference sampler: a MipTexture, (2, 3) affine, (..., 2) canonical points and their
    (..., 2, 2) dc/dx (None: level 0) -> (..., 3) float64 texels, as the render kernels compute
    them inline: bilinear on level floor(lod) and, below the coarsest level, on the next one,
    blended by the fraction of lod."""
    p = np.asarray(points, dtype=np.float64)
    u = p[..., 0] * aff[0, 0] + p[..., 1] * aff[0, 1] + aff[0, 2]
    v = p[..., 0] * aff[1, 0] + p[..., 1] * aff[1, 1] + aff[1, 2]
    lod = np.zeros(u.shape) if jac is None else level_of_detail(aff, jac)
    top = len(mip.levels) - 1
    base = np.minimum(np.floor(lod).astype(np.int64), top)
    frac = np.where(base < top, lod - base, 0.0)[..., None]
    out = np.zeros((*u.shape, 3))
    for lvl in np.unique(base):
        sel = base == lvl
        near = _bilinear(mip, lvl, u[sel], v[sel])
        if lvl < top:
            near = near * (1.0 - frac[sel]) + _bilinear(mip, lvl + 1, u[sel], v[sel]) * frac[sel]
        out[sel] = near
    return out


def _bilinear(mip: MipTexture, lvl: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(n,) level-0 coordinates -> (n, 3) bilinear texels of level `lvl`."""
    tex = mip.level(lvl).astype(np.float64)
    h, w = tex.shape[:2]
    if lvl > 0:
        s = w / mip.levels[0, 2]  # 2^-lvl, exactly
        u, v = (u + 0.5) * s - 0.5, (v + 0.5) * s - 0.5
    if mip.wrap:
        u, v = u - w * np.floor(u / w), v - h * np.floor(v / h)
        u, v = np.where(u >= w, 0.0, u), np.where(v >= h, 0.0, v)
        u0, v0 = u.astype(np.int64), v.astype(np.int64)
        u1, v1 = np.where(u0 + 1 < w, u0 + 1, 0), np.where(v0 + 1 < h, v0 + 1, 0)
    else:
        u, v = mirror(u, w), mirror(v, h)
        u0, v0 = np.minimum(u.astype(np.int64), w - 2), np.minimum(v.astype(np.int64), h - 2)
        u1, v1 = u0 + 1, v0 + 1
    fu, fv = (u - u0)[..., None], (v - v0)[..., None]
    top = tex[v0, u0] * (1 - fu) + tex[v0, u1] * fu
    bot = tex[v1, u0] * (1 - fu) + tex[v1, u1] * fu
    return top * (1 - fv) + bot * fv
