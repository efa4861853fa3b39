"""Small-array maths that gives the same bits on every x86-64 machine, for bit-exact regeneration.

numpy picks SIMD implementations of exp, log, hypot, arctan2 by CPU (on an AVX-512 machine 5 % of
float64 np.exp results differ from the C library's), and matmul / linalg go through BLAS and
LAPACK, whose kernels and summation order also depend on the CPU. Scene sampling and render
planning handle only a few hundred numbers, so they use these instead: the C library's functions
one value at a time (as numba's compiled kernels do) and plain elementwise arithmetic, which IEEE
754 makes exact everywhere.
"""

from __future__ import annotations

import math

import numpy as np


def _elementwise(fn, x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.fromiter((fn(v) for v in x.ravel().tolist()), np.float64, x.size).reshape(x.shape)


def exp(x) -> np.ndarray:
    return _elementwise(math.exp, x)


def log(x) -> np.ndarray:
    return _elementwise(math.log, x)


def sin(x) -> np.ndarray:
    return _elementwise(math.sin, x)


def cos(x) -> np.ndarray:
    return _elementwise(math.cos, x)


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., m, k) @ (..., k, n) with broadcasting, summed in a fixed order (no BLAS)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    acc = a[..., :, 0:1] * b[..., 0:1, :]
    for j in range(1, a.shape[-1]):
        acc = acc + a[..., :, j:j + 1] * b[..., j:j + 1, :]
    return acc


def solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x with a @ x = b, a (n, n), b (n, m): Gaussian elimination with partial pivoting."""
    a = np.array(a, dtype=np.float64)
    x = np.array(b, dtype=np.float64)
    n = len(a)
    for k in range(n):
        p = k + int(np.argmax(np.abs(a[k:, k])))
        if a[p, k] == 0.0:
            raise np.linalg.LinAlgError("singular matrix")
        a[[k, p]], x[[k, p]] = a[[p, k]], x[[p, k]]
        f = a[k + 1:, k] / a[k, k]
        a[k + 1:] -= f[:, None] * a[k]
        x[k + 1:] -= f[:, None] * x[k]
    for k in range(n - 1, -1, -1):
        if k + 1 < n:
            x[k] -= matmul(a[k:k + 1, k + 1:], x[k + 1:])[0]
        x[k] /= a[k, k]
    return x
