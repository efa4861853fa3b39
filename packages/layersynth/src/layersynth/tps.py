"""Thin-plate splines: fit, evaluate, differentiate and invert (the inverse by Newton steps).

A spline with control points P (n, 2) is stored as coefficients C (n + 3, 2): rows 0..n-1 are
the kernel weights w_j, row n the offset a0, rows n + 1 and n + 2 the linear part (the images of
the x and y unit vectors). It maps a point c (x, y) to

    D(c) = a0 + C[n + 1] * x + C[n + 2] * y + sum_j w_j U(|c - P_j|^2),   U(s) = s log s,

and interpolates: D(P_i) equals the target of P_i exactly (up to the linear solve's rounding).
"""

from __future__ import annotations

import numba
import numpy as np


def kernel(sq: np.ndarray) -> np.ndarray:
    """U(s) = s log s for squared distances s, with U(0) = 0."""
    sq = np.asarray(sq, dtype=np.float64)
    return np.where(sq > 0, sq * np.log(np.where(sq > 0, sq, 1.0)), 0.0)


def solver(points: np.ndarray) -> np.ndarray:
    """(n, 2) control points -> (n + 3, n) matrix M with coefficients = M @ targets (n, 2).

    Fitting many target sets to the same points (one per frame) then costs one matmul each.
    Needs n >= 3 points, not all on one line.
    """
    p = np.asarray(points, dtype=np.float64)
    n = len(p)
    if n < 3:
        raise ValueError(f"a thin-plate spline needs >= 3 control points, got {n}")
    system = np.zeros((n + 3, n + 3))
    system[:n, :n] = kernel(((p[:, None, :] - p[None, :, :]) ** 2).sum(-1))
    affine = np.concatenate([np.ones((n, 1)), p], axis=1)
    system[:n, n:] = affine
    system[n:, :n] = affine.T
    return np.linalg.solve(system, np.eye(n + 3)[:, :n])


def fit(points: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(n, 2) control points, (..., n, 2) targets -> (..., n + 3, 2) coefficients."""
    return solver(points) @ np.asarray(targets, dtype=np.float64)


def evaluate(coef: np.ndarray, points: np.ndarray, c: np.ndarray) -> np.ndarray:
    """(n + 3, 2) coefficients, (n, 2) control points, (..., 2) points -> (..., 2) images."""
    c = np.asarray(c, dtype=np.float64)
    n = len(points)
    u = kernel(((c[..., None, :] - points) ** 2).sum(-1))  # (..., n)
    return u @ coef[:n] + coef[n] + c[..., :1] * coef[n + 1] + c[..., 1:] * coef[n + 2]


@numba.njit(cache=True, inline="always")
def eval_jac(cx, cy, points, coef, u):
    """Evaluate D at (cx, cy) and its Jacobian; leaves U_j in `u` (n,) for `eval_cached`.

    Returns (dx, dy, j00, j01, j10, j11) with j_ab = d D_a / d c_b.
    """
    n = points.shape[0]
    dx = coef[n, 0] + coef[n + 1, 0] * cx + coef[n + 2, 0] * cy
    dy = coef[n, 1] + coef[n + 1, 1] * cx + coef[n + 2, 1] * cy
    j00, j01 = coef[n + 1, 0], coef[n + 2, 0]
    j10, j11 = coef[n + 1, 1], coef[n + 2, 1]
    for k in range(n):
        ex = cx - points[k, 0]
        ey = cy - points[k, 1]
        sq = ex * ex + ey * ey
        if sq > 0.0:
            log_sq = np.log(sq)
            uk = sq * log_sq
            g = 2.0 * (log_sq + 1.0)  # dU/dc = 2 (c - P) (log s + 1)
            wx, wy = coef[k, 0], coef[k, 1]
            dx += wx * uk
            dy += wy * uk
            j00 += wx * g * ex
            j01 += wx * g * ey
            j10 += wy * g * ex
            j11 += wy * g * ey
            u[k] = uk
        else:
            u[k] = 0.0
    return dx, dy, j00, j01, j10, j11


@numba.njit(cache=True, inline="always")
def eval_cached(cx, cy, coef, u):
    """D at the point whose kernel values `eval_jac` left in `u`, for other coefficients."""
    n = u.shape[0]
    dx = coef[n, 0] + coef[n + 1, 0] * cx + coef[n + 2, 0] * cy
    dy = coef[n, 1] + coef[n + 1, 1] * cx + coef[n + 2, 1] * cy
    for k in range(n):
        dx += coef[k, 0] * u[k]
        dy += coef[k, 1] * u[k]
    return dx, dy


@numba.njit(cache=True, inline="always")
def newton(qx, qy, gx, gy, points, coef, u, tol, max_iter):
    """Solve D(c) = q from the guess g; returns (cx, cy, ok, i00, i01, i10, i11), i = J^-1 at c.

    ok is False when |D(c) - q| >= tol after max_iter steps or the Jacobian is singular (folded).
    """
    cx, cy = gx, gy
    for _ in range(max_iter + 1):
        dx, dy, j00, j01, j10, j11 = eval_jac(cx, cy, points, coef, u)
        det = j00 * j11 - j01 * j10
        if det <= 1e-9:
            return cx, cy, False, 0.0, 0.0, 0.0, 0.0
        i00, i01, i10, i11 = j11 / det, -j01 / det, -j10 / det, j00 / det
        rx, ry = dx - qx, dy - qy
        if rx * rx + ry * ry < tol * tol:
            return cx, cy, True, i00, i01, i10, i11
        cx -= i00 * rx + i01 * ry
        cy -= i10 * rx + i11 * ry
    return cx, cy, False, 0.0, 0.0, 0.0, 0.0


@numba.njit(cache=True)
def _invert(coef, points, q, tol, max_iter, out):
    u = np.empty(points.shape[0])
    for i in range(q.shape[0]):
        cx, cy, ok, _, _, _, _ = newton(q[i, 0], q[i, 1], q[i, 0], q[i, 1], points, coef, u,
                                        tol, max_iter)
        out[i, 0] = cx if ok else np.nan
        out[i, 1] = cy if ok else np.nan


def invert(coef: np.ndarray, points: np.ndarray, q: np.ndarray, tol: float = 1e-6,
           max_iter: int = 20) -> np.ndarray:
    """(n + 3, 2), (n, 2), (m, 2) images -> (m, 2) c with D(c) = q (NaN where Newton fails)."""
    q = np.ascontiguousarray(q, dtype=np.float64).reshape(-1, 2)
    out = np.empty_like(q)
    _invert(np.ascontiguousarray(coef, dtype=np.float64),
            np.ascontiguousarray(points, dtype=np.float64), q, tol, max_iter, out)
    return out
