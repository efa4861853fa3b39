"""Texture mapping and colour: canonical coordinates -> texture pixels -> jittered colour.

A layer's texture is a crop/scale/flip of a source image: the canonical point c = (x, y) reads
texture pixel (u, v) = offset + scale * (flip_x * x, flip_y * y), bilinearly, with mirrored
addressing outside the image (continuous, so brightness constancy holds everywhere). Colour is
then `gain_t * texel + bias`, gain_t = gain * (1 + amp * sin(freq * e + phase)) per channel at
extended frame index e (the photometric jitter; amp = 0 turns it off).
"""

from __future__ import annotations

import numba
import numpy as np


def texture_affine(offset, scale: float, flip) -> np.ndarray:
    """(2, 3) float64 map canonical (x, y, 1) -> texture (u, v)."""
    fx = -1.0 if flip[0] else 1.0
    fy = -1.0 if flip[1] else 1.0
    return np.array([[scale * fx, 0.0, offset[0]], [0.0, scale * fy, offset[1]]])


def frame_gains(gain, amp, freq: float, phase, e: np.ndarray) -> np.ndarray:
    """(3,), (3,), scalar, (3,), (N,) extended frame indices -> (N, 3) float64 per-frame gains."""
    e = np.asarray(e, dtype=np.float64)[:, None]
    return np.asarray(gain) * (1.0 + np.asarray(amp) * np.sin(freq * e + np.asarray(phase)))


@numba.njit(cache=True, inline="always")
def _mirror(u, n):
    """Fold coordinate u into [0, n - 1] by mirroring at both ends (period 2 (n - 1))."""
    period = 2.0 * (n - 1)
    u = abs(u) % period
    return period - u if u > n - 1 else u


@numba.njit(cache=True, inline="always")
def shade(tex, aff, cx, cy, gain, bias, rgb, i, j):
    """Write the colour of canonical (cx, cy) into rgb[i, j] (uint8, rounded and clipped)."""
    h, w = tex.shape[0], tex.shape[1]
    u = _mirror(aff[0, 0] * cx + aff[0, 1] * cy + aff[0, 2], w)
    v = _mirror(aff[1, 0] * cx + aff[1, 1] * cy + aff[1, 2], h)
    u0 = min(int(u), w - 2)
    v0 = min(int(v), h - 2)
    fu, fv = u - u0, v - v0
    for ch in range(3):
        top = tex[v0, u0, ch] * (1.0 - fu) + tex[v0, u0 + 1, ch] * fu
        bot = tex[v0 + 1, u0, ch] * (1.0 - fu) + tex[v0 + 1, u0 + 1, ch] * fu
        val = gain[ch] * (top * (1.0 - fv) + bot * fv) + bias[ch]
        rgb[i, j, ch] = min(max(int(val + 0.5), 0), 255)
