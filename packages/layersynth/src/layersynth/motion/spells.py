"""Static spells in continuous time: the time warp that pauses an object, and its trajectory.

A static spell stops an object relative to the background over tau in [start, end] (frames from
the clip centre, continuous: the frame grid plays no part) and lets it move on after, smoothly.
It is a time warp s(tau) of the object's own motion: s = tau - W(tau), with

    ds/dtau = 1 - w(tau),   w = smoothstep ramp from 0 to 1 over [start - ramp, start],
                            1 on [start, end], back to 0 over [end, end + ramp],

so s is monotone, C^2, and constant on the spell. The object's homography follows the camera while
its own motion is paused (C the camera's homography, G the object's sampled trajectory):

    H(tau) = C(tau) @ C(s)^-1 @ G(s),      D(tau) = D at time s (the deformation also pauses)

Without a spell s = tau and H = G, today's trajectory. During the spell the object's map is the
camera's motion after a fixed map, C(tau) C(s0)^-1 G(s0) D(s0): its position and shape are frozen
in the background's coordinates, and its flow equals the background's flow at the same pixels.
"""

from __future__ import annotations

import numpy as np

from layersynth.motion import detmath, homography


def warp(tau: np.ndarray, start: float, end: float, ramp: float) -> np.ndarray:
    """(N,) times -> (N,) warped times s(tau) of a spell over [start, end] with ramps `ramp` > 0."""
    tau = np.asarray(tau, dtype=np.float64)
    x = np.clip((tau - (start - ramp)) / ramp, 0.0, 1.0)  # position in the ramp in
    y = np.clip((tau - end) / ramp, 0.0, 1.0)  # position in the ramp out
    held = np.clip(tau, start, end) - start  # time spent inside [start, end]
    ramp_in = x * x * x - 0.5 * x * x * x * x  # integral of 3x^2 - 2x^3
    ramp_out = y - y * y * y + 0.5 * y * y * y * y  # integral of 1 - (3y^2 - 2y^3)
    return tau - (ramp * ramp_in + held + ramp * ramp_out)


def warp_rate(tau: np.ndarray, start: float, end: float, ramp: float) -> np.ndarray:
    """(N,) ds/dtau of `warp` (0 on the spell, 1 far from it)."""
    tau = np.asarray(tau, dtype=np.float64)
    x = np.clip((tau - (start - ramp)) / ramp, 0.0, 1.0)
    y = np.clip((tau - end) / ramp, 0.0, 1.0)
    inside = x * x * (3.0 - 2.0 * x) - y * y * (3.0 - 2.0 * y)
    return 1.0 - inside


def trajectory(coeffs: np.ndarray, camera: np.ndarray, tau: np.ndarray,
               s: np.ndarray, shake=()) -> np.ndarray:
    """(N, 3, 3) H(tau) = C(tau) @ C(s)^-1 @ G(s) for (8, 3) object and camera coefficients
    (`shake`: the camera's (S, 4) shake rows, see layersynth.motion.homography)."""
    g = homography.matrices(coeffs, s)
    c_now = homography.matrices(camera, tau, shake)
    c_then = homography.inverse(homography.matrices(camera, s, shake))
    h = detmath.matmul(detmath.matmul(c_now, c_then), g)
    return h / h[:, 2:3, 2:3]  # the scale homography.matrices gives: H[2, 2] = 1
