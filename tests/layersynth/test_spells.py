"""motion.spells: the static spell's time warp and the trajectory that follows the camera."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from layersynth.motion import homography, spells

CAMERA = np.array([[112, 1.2, 0.01], [64, -0.7, 0.0], [0.05, 0.003, 0], [0.1, 0.004, 0],
                   [0, 0, 0], [0, 0, 0], [0, 1e-5, 0], [2e-5, 0, 0]], float)
OBJECT = np.array([[90, 2.0, 0.02], [50, 1.0, -0.01], [0.3, 0.02, 0], [0, 0.008, 0],
                   [0.1, 0.001, 0], [0.05, 0.002, 0], [1e-4, 0, 0], [0, -1e-4, 0]], float)


@settings(max_examples=30, deadline=None)
@given(st.floats(-10, 5), st.floats(0.5, 8), st.floats(0.5, 4))
def test_the_warp_is_monotone_held_on_the_spell_and_a_shift_after_it(start, length, ramp):
    end = start + length
    tau = np.linspace(-20, 20, 4001)
    s = spells.warp(tau, start, end, ramp)
    assert np.all(np.diff(s) >= -1e-12)
    held = (tau >= start) & (tau <= end)
    np.testing.assert_allclose(s[held], s[held][0], atol=1e-12)
    np.testing.assert_allclose(s[tau < start - ramp], tau[tau < start - ramp])
    after = tau > end + ramp
    np.testing.assert_allclose(s[after], tau[after] - (length + ramp), atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(st.floats(-10, 5), st.floats(0.5, 8), st.floats(0.5, 4))
def test_the_warp_rate_is_the_derivative_of_the_warp_and_continuous(start, length, ramp):
    tau = np.linspace(-20, 20, 8001)
    s = spells.warp(tau, start, start + length, ramp)
    rate = spells.warp_rate(tau, start, start + length, ramp)
    np.testing.assert_allclose(np.gradient(s, tau), rate, atol=2e-3)
    # no jump in velocity: ds/dtau changes by at most its steepest slope (1.5 / ramp) per step
    assert np.abs(np.diff(rate)).max() <= 1.5 / ramp * (tau[1] - tau[0]) + 1e-9
    assert rate.min() >= 0.0 and rate.max() <= 1.0


def test_without_a_pause_the_trajectory_is_the_objects_own():
    tau = np.linspace(-15, 15, 31)
    np.testing.assert_allclose(spells.trajectory(OBJECT, CAMERA, tau, tau),
                               homography.matrices(OBJECT, tau), atol=1e-9)


def test_during_a_spell_the_object_moves_exactly_as_the_background():
    tau = np.linspace(-2.0, 3.0, 11)
    s = spells.warp(tau, -2.0, 3.0, 1.5)
    h = spells.trajectory(OBJECT, CAMERA, tau, s)
    cam = homography.matrices(CAMERA, tau)
    c = np.random.default_rng(0).uniform(-30, 30, (20, 2))
    for i in range(1, len(tau)):
        x_then = homography.apply(h[i - 1], c)
        x_now = homography.apply(h[i], c)
        # the background point under x_then, moved by the camera, is where the object point is now
        bg = homography.apply(cam[i], homography.apply(homography.inverse(cam[i - 1]), x_then))
        np.testing.assert_allclose(x_now, bg, atol=1e-8)
