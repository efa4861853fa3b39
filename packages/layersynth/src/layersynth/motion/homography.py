"""Smooth homography trajectories: eight motion components, each a quadratic in time.

A trajectory is a (8, 3) array of coefficients: component i at time tau is
`coeffs[i, 0] + coeffs[i, 1] * tau + coeffs[i, 2] * tau**2`, tau in frames from the clip centre.
Components, in order (COMPONENTS): translation tx, ty (pixels: the image position of the canonical
origin), rotation (radians), log scale, log aspect (log of x-scale / y-scale), shear, perspective
px, py (per canonical pixel). The matrix maps canonical (x, y, 1) to the image:

    H = Translate(tx, ty) @ Rotate(rot) @ Shear(shear) @ Scale(s sqrt(a), s / sqrt(a)) @ Persp(p)

with Persp = [[1, 0, 0], [0, 1, 0], [px, py, 1]], so the projective divisor w = 1 + px x + py y.

A trajectory may add shake terms (a camera held by hand): an (S, 4) array of rows
(component, amplitude, freq, phase) adding `amplitude * sin(freq * tau + phase)` to that component
(freq in radians per frame). Smooth in continuous tau, so any time step samples the same motion.
"""

from __future__ import annotations

import numpy as np

from layersynth.motion import detmath

COMPONENTS = ("tx", "ty", "rotation", "log_scale", "log_aspect", "shear", "px", "py")


def components(coeffs: np.ndarray, tau: np.ndarray, shake=()) -> np.ndarray:
    """(8, 3) coefficients, (N,) times, (S, 4) shake rows -> (N, 8) component values."""
    tau = np.asarray(tau, dtype=np.float64)[:, None]
    c = np.asarray(coeffs, dtype=np.float64)
    values = c[:, 0] + c[:, 1] * tau + c[:, 2] * (tau * tau)
    for component, amplitude, freq, phase in np.asarray(shake, dtype=np.float64).reshape(-1, 4):
        values[:, int(component)] += amplitude * detmath.sin(freq * tau[:, 0] + phase)
    return values


def matrices(coeffs: np.ndarray, tau: np.ndarray, shake=()) -> np.ndarray:
    """(8, 3) coefficients, (N,) times, (S, 4) shake rows -> (N, 3, 3) float64 homographies
    (canonical -> image)."""
    tx, ty, rot, log_s, log_a, shear, px, py = components(coeffs, tau, shake).T
    n = len(tx)
    sx, sy = detmath.exp(log_s + 0.5 * log_a), detmath.exp(log_s - 0.5 * log_a)
    cos, sin = detmath.cos(rot), detmath.sin(rot)
    # Rotate @ Shear @ Scale, written out: [[c, -s], [s, c]] @ [[1, h], [0, 1]] @ diag(sx, sy)
    a = np.empty((n, 2, 2))
    a[:, 0, 0], a[:, 0, 1] = cos * sx, (cos * shear - sin) * sy
    a[:, 1, 0], a[:, 1, 1] = sin * sx, (sin * shear + cos) * sy
    h = np.zeros((n, 3, 3))  # [[A, t], [0, 1]] @ Persp, multiplied out
    h[:, :2, 0] = a[:, :, 0] + np.stack([tx, ty], axis=1) * px[:, None]
    h[:, :2, 1] = a[:, :, 1] + np.stack([tx, ty], axis=1) * py[:, None]
    h[:, :2, 2] = np.stack([tx, ty], axis=1)
    h[:, 2] = np.stack([px, py, np.ones(n)], axis=1)
    return h


def apply(h: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(3, 3) homography, (..., 2) points (x, y) -> (..., 2) mapped points."""
    p = np.asarray(points, dtype=np.float64)
    w = p[..., 0] * h[2, 0] + p[..., 1] * h[2, 1] + h[2, 2]
    x = (p[..., 0] * h[0, 0] + p[..., 1] * h[0, 1] + h[0, 2]) / w
    y = (p[..., 0] * h[1, 0] + p[..., 1] * h[1, 1] + h[1, 2]) / w
    return np.stack([x, y], axis=-1)


def inverse(h: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 3, 3) inverses, scaled so that [2, 2] == 1 (the adjugate: no LAPACK)."""
    h = np.asarray(h, dtype=np.float64)
    adj = np.empty_like(h)
    for i in range(3):
        for j in range(3):
            r0, r1 = [r for r in range(3) if r != j]
            c0, c1 = [c for c in range(3) if c != i]
            sign = -1.0 if (i + j) % 2 else 1.0
            minor = h[..., r0, c0] * h[..., r1, c1] - h[..., r0, c1] * h[..., r1, c0]
            adj[..., i, j] = sign * minor
    return adj / adj[..., 2:3, 2:3]
