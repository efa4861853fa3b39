import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from layersynth.motion import homography


def _coeffs(values):
    c = np.zeros((8, 3))
    c[:, 0] = values
    return c


def test_zero_coefficients_give_the_identity():
    np.testing.assert_allclose(homography.matrices(np.zeros((8, 3)), [0.0, 3.0]),
                               np.broadcast_to(np.eye(3), (2, 3, 3)))


def test_components_are_quadratics_in_time():
    c = np.zeros((8, 3))
    c[0] = (10.0, 2.0, 0.5)
    tx = homography.components(c, np.array([-2.0, 0.0, 4.0]))[:, 0]
    np.testing.assert_allclose(tx, [10 - 4 + 2, 10, 10 + 8 + 8])


def test_translation_rotation_and_scale_act_as_documented():
    h = homography.matrices(_coeffs([5, -3, np.pi / 2, np.log(2), 0, 0, 0, 0]), [0.0])[0]
    # (1, 0) is scaled to (2, 0), rotated a quarter turn to (0, 2) (y down), then translated.
    np.testing.assert_allclose(homography.apply(h, np.array([1.0, 0.0])), [5, -1], atol=1e-12)


def test_perspective_divides_by_one_plus_p_dot_c():
    h = homography.matrices(_coeffs([0, 0, 0, 0, 0, 0, 0.01, 0.0]), [0.0])[0]
    np.testing.assert_allclose(homography.apply(h, np.array([10.0, 4.0])), [10 / 1.1, 4 / 1.1])


@settings(max_examples=20, deadline=None)
@given(st.lists(st.floats(-0.3, 0.3), min_size=8, max_size=8))
def test_inverse_undoes_the_map(values):
    c = _coeffs(np.array(values) * [100, 100, 10, 1, 1, 1, 1e-3, 1e-3])
    h = homography.matrices(c, [0.0])[0]
    pts = np.random.default_rng(0).uniform(-50, 50, (20, 2))
    back = homography.apply(homography.inverse(h), homography.apply(h, pts))
    np.testing.assert_allclose(back, pts, atol=1e-8)
