"""Texture mapping and colour: canonical coordinates -> texture pixels -> jittered colour.

A layer's texture is a crop/scale/flip of a source image: the canonical point c = (x, y) reads
texture pixel (u, v) = offset + scale * (flip_x * x, flip_y * y), bilinearly, with mirrored
addressing outside the image (continuous, so brightness constancy holds everywhere). Colour is
then `gain_k * texel + bias`, gain_k = gain * (1 + amp * sin(freq * k + phase)) per channel at
phase-clock time k (continuous, nominal frames, `SceneParams.clock`: the photometric jitter is a
function of time, not of the frame index; amp = 0 turns it off). A layer's `Shading` holds
all of it, ready for the render kernels, which compute the same texel and colour inline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from layersynth.motion import detmath
from layersynth.render.sprites import readonly
from layersynth.scene.params import Appearance


@dataclass(frozen=True, eq=False)
class Shading:
    """A layer's texture (h, w, 3) uint8, or a clip (E, h, w, 3) of one texture per extended
    frame; its canonical -> texture map `aff` (2, 3); per-frame gains (E, 3); bias (3,)."""

    tex: np.ndarray
    aff: np.ndarray
    gains: np.ndarray
    bias: np.ndarray

    def at(self, e: int) -> tuple:
        """(texture, aff, gain (3,), bias): the kernels' colour arguments at extended frame e."""
        tex = self.tex[e] if self.tex.ndim == 4 else self.tex
        return tex, self.aff, self.gains[e], self.bias


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


def sample(tex: np.ndarray, aff: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Reference sampler: (h, w, 3) uint8, (2, 3) affine, (..., 2) canonical points -> (..., 3)
    float64 texels, bilinear with mirrored addressing (what the render kernels compute inline)."""
    h, w = tex.shape[:2]
    p = np.asarray(points, dtype=np.float64)
    u = mirror(p[..., 0] * aff[0, 0] + p[..., 1] * aff[0, 1] + aff[0, 2], w)
    v = mirror(p[..., 0] * aff[1, 0] + p[..., 1] * aff[1, 1] + aff[1, 2], h)
    u0 = np.minimum(u.astype(np.int64), w - 2)
    v0 = np.minimum(v.astype(np.int64), h - 2)
    fu, fv = (u - u0)[..., None], (v - v0)[..., None]
    t = tex.astype(np.float64)
    top = t[v0, u0] * (1 - fu) + t[v0, u0 + 1] * fu
    bot = t[v0 + 1, u0] * (1 - fu) + t[v0 + 1, u0 + 1] * fu
    return top * (1 - fv) + bot * fv
