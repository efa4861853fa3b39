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

from layersynth.motion import detmath


def kernel(sq: np.ndarray) -> np.ndarray:
    """U(s) = s log s for squared distances s, with U(0) = 0."""
    sq = np.asarray(sq, dtype=np.float64)
    return np.where(sq > 0, sq * detmath.log(np.where(sq > 0, sq, 1.0)), 0.0)


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
    return detmath.solve(system, np.eye(n + 3)[:, :n])


def fit(points: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(n, 2) control points, (..., n, 2) targets -> (..., n + 3, 2) coefficients."""
    return detmath.matmul(solver(points), targets)


def evaluate(coef: np.ndarray, points: np.ndarray, c: np.ndarray) -> np.ndarray:
    """(n + 3, 2) coefficients, (n, 2) control points, (..., 2) points -> (..., 2) images."""
    c = np.asarray(c, dtype=np.float64)
    n = len(points)
    u = kernel(((c[..., None, :] - points) ** 2).sum(-1))  # (..., n)
    linear = coef[n] + c[..., :1] * coef[n + 1] + c[..., 1:] * coef[n + 2]
    return detmath.matmul(u[..., None, :], coef[:n])[..., 0, :] + linear


@numba.njit(cache=True, inline="always")
def eval_jac(cx, cy, points, coef, u):
    """Evaluate D at (cx, cy) and its Jacobian; leaves the kernel values in `u` (3, n) for
    `eval_cached`: u[0] = U_j, u[1], u[2] = dU_j / dx, dU_j / dy.

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
            gx, gy = g * ex, g * ey
            wx, wy = coef[k, 0], coef[k, 1]
            dx += wx * uk
            dy += wy * uk
            j00 += wx * gx
            j01 += wx * gy
            j10 += wy * gx
            j11 += wy * gy
            u[0, k], u[1, k], u[2, k] = uk, gx, gy
        else:
            u[0, k], u[1, k], u[2, k] = 0.0, 0.0, 0.0
    return dx, dy, j00, j01, j10, j11


@numba.njit(cache=True, inline="always")
def eval_cached(cx, cy, sx, sy, coef, u):
    """D(c + s) for other coefficients, from the kernel values `eval_jac` left in `u` at c, to
    first order in the (small) step s: D(c) + J(c) s, error O(|s|^2)."""
    n = u.shape[1]
    dx = coef[n, 0] + coef[n + 1, 0] * (cx + sx) + coef[n + 2, 0] * (cy + sy)
    dy = coef[n, 1] + coef[n + 1, 1] * (cx + sx) + coef[n + 2, 1] * (cy + sy)
    for k in range(n):
        grad = u[1, k] * sx + u[2, k] * sy
        dx += coef[k, 0] * (u[0, k] + grad)
        dy += coef[k, 1] * (u[0, k] + grad)
    return dx, dy


@numba.njit(cache=True, inline="always")
def newton(qx, qy, gx, gy, points, coef, u, tol, max_iter):
    """Solve D(c) = q from the guess g.

    Returns (cx, cy, sx, sy, ok, i00, i01, i10, i11): the solution c + s, where `u` holds the
    kernel values at c (the last point evaluated) and s is the final Newton step, taken without
    re-evaluating when |s| < `tol` (the residual after it is O(|s|^2), far below tol); i = J^-1 at
    c. ok is False when Newton has not converged after max_iter steps or the Jacobian is singular
    (the spline folds there).
    """
    cx, cy = gx, gy
    for _ in range(max_iter + 1):
        dx, dy, j00, j01, j10, j11 = eval_jac(cx, cy, points, coef, u)
        det = j00 * j11 - j01 * j10
        if det <= 1e-9:
            break
        i00, i01, i10, i11 = j11 / det, -j01 / det, -j10 / det, j00 / det
        rx, ry = dx - qx, dy - qy
        sx = -(i00 * rx + i01 * ry)
        sy = -(i10 * rx + i11 * ry)
        if sx * sx + sy * sy < tol * tol:
            return cx, cy, sx, sy, True, i00, i01, i10, i11
        cx += sx
        cy += sy
    return cx, cy, 0.0, 0.0, False, 0.0, 0.0, 0.0, 0.0


@numba.njit(cache=True)
def _invert(coef, points, q, tol, max_iter, out):
    u = np.empty((3, points.shape[0]))
    for i in range(q.shape[0]):
        cx, cy, sx, sy, ok, _, _, _, _ = newton(q[i, 0], q[i, 1], q[i, 0], q[i, 1], points, coef,
                                                u, tol, max_iter)
        out[i, 0] = cx + sx if ok else np.nan
        out[i, 1] = cy + sy if ok else np.nan


def invert(coef: np.ndarray, points: np.ndarray, q: np.ndarray, tol: float = 1e-6,
           max_iter: int = 20) -> np.ndarray:
    """(n + 3, 2), (n, 2), (m, 2) images -> (m, 2) c with D(c) = q (NaN where Newton fails)."""
    q = np.ascontiguousarray(q, dtype=np.float64).reshape(-1, 2)
    out = np.empty_like(q)
    _invert(np.ascontiguousarray(coef, dtype=np.float64),
            np.ascontiguousarray(points, dtype=np.float64), q, tol, max_iter, out)
    return out
