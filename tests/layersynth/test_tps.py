import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layersynth.motion import tps


def _points(seed, n):
    rng = np.random.default_rng(seed)
    angles = np.sort(rng.uniform(0, 2 * np.pi, n)) + np.arange(n) * 0.01
    return np.stack([np.cos(angles), np.sin(angles)], 1) * rng.uniform(10, 30, (n, 1))


@settings(max_examples=25, deadline=None)
@given(st.integers(3, 16), st.integers(0, 10_000))
def test_thin_plate_splines_map_control_points_exactly(n, seed):
    points = _points(seed, n)
    targets = points + np.random.default_rng(seed + 1).normal(0, 3, points.shape)
    coef = tps.fit(points, targets)
    np.testing.assert_allclose(tps.evaluate(coef, points, points), targets, atol=1e-8)


def test_affine_targets_give_that_affine_map_everywhere():
    points = _points(1, 9)
    a = np.array([[1.1, 0.2], [-0.1, 0.9]])
    coef = tps.fit(points, points @ a.T + [3.0, -2.0])
    q = np.random.default_rng(2).uniform(-40, 40, (50, 2))
    np.testing.assert_allclose(tps.evaluate(coef, points, q), q @ a.T + [3.0, -2.0], atol=1e-8)


def test_fits_for_many_frames_equal_fits_one_by_one():
    points = _points(3, 7)
    targets = points + np.random.default_rng(4).normal(0, 2, (5, 7, 2))
    batch = tps.fit(points, targets)
    for f in range(5):
        np.testing.assert_allclose(batch[f], tps.fit(points, targets[f]), atol=1e-10)


def test_analytic_jacobian_matches_finite_differences():
    points = _points(5, 10)
    coef = tps.fit(points, points + np.random.default_rng(6).normal(0, 3, points.shape))
    u = np.empty((3, 10))
    for c in np.random.default_rng(7).uniform(-30, 30, (10, 2)):
        *_, j00, j01, j10, j11 = tps.eval_jac(c[0], c[1], points, coef, u)
        eps = 1e-5
        fd = np.stack([(tps.evaluate(coef, points, c + d) - tps.evaluate(coef, points, c - d))
                       / (2 * eps) for d in (np.array([eps, 0]), np.array([0, eps]))], 1)
        np.testing.assert_allclose([[j00, j01], [j10, j11]], fd, atol=1e-5)


def test_newton_inverse_recovers_the_canonical_points():
    points = _points(8, 12)
    gaps = np.min(np.linalg.norm(points[:, None] - points[None], axis=-1) + 1e9 * np.eye(12), 1)
    directions = np.random.default_rng(9).normal(size=points.shape)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    coef = tps.fit(points, points + 0.45 * gaps[:, None] * directions)  # d < D / 2
    c = np.random.default_rng(10).uniform(-25, 25, (200, 2))
    back = tps.invert(coef, points, tps.evaluate(coef, points, c))
    np.testing.assert_allclose(back, c, atol=1e-6)


def test_fewer_than_three_control_points_are_refused():
    with pytest.raises(ValueError, match=">= 3"):
        tps.solver(np.zeros((2, 2)))
