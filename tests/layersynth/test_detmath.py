import math

import numpy as np
from layersynth.motion import detmath, homography


def test_elementwise_functions_are_the_c_librarys_bit_for_bit():
    x = np.random.default_rng(0).uniform(0.01, 10, (5, 7))
    for ours, ref in ((detmath.exp, math.exp), (detmath.log, math.log), (detmath.sin, math.sin),
                      (detmath.cos, math.cos)):
        got = ours(x)
        assert got.shape == x.shape
        assert all(g == ref(v) for g, v in zip(got.ravel().tolist(), x.ravel().tolist(),
                                               strict=True))


def test_matmul_and_solve_agree_with_numpy():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(4, 6, 5)), rng.normal(size=(5, 3))
    np.testing.assert_allclose(detmath.matmul(a, b), a @ b, atol=1e-12)
    m = rng.normal(size=(19, 19)) + 5 * np.eye(19)
    rhs = rng.normal(size=(19, 16))
    np.testing.assert_allclose(detmath.solve(m, rhs), np.linalg.solve(m, rhs), atol=1e-10)


def test_homographies_are_built_from_exactly_the_c_librarys_values():
    c = np.zeros((8, 3))
    c[:, 0] = [3.0, -2.0, 0.3, 0.2, 0.1, 0.05, 1e-3, -2e-3]
    h = homography.matrices(c, [0.0])[0]
    sx, sy = math.exp(0.2 + 0.05), math.exp(0.2 - 0.05)
    assert h[0, 0] == math.cos(0.3) * sx + 3.0 * 1e-3
    assert h[1, 1] == (math.sin(0.3) * 0.05 + math.cos(0.3)) * sy + -2.0 * -2e-3
