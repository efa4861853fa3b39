"""Background depth: the trajectories of near planes and the camera's shake, from the camera's.

The far background plane moves under the camera's homography trajectory (`SceneParams.camera`).
A plane nearer the camera by an inverse depth ratio p (its `parallax`) moves, for a translating
camera, p times as far in the image: `parallax_motion` scales the translation (velocity and
acceleration) and the zoom rate of the camera's trajectory by p and keeps its rotation,
perspective and shake (shake is taken as camera rotation, the same at every depth). Two planes
with p != p' then give a background flow no single homography fits (parallax).

A ground plane (`ground_plane`) has its canonical origin on the horizon and covers canonical
y >= 0: the horizon moves with the far plane and the rows below it move faster the lower they are,
up to p times at the frame's bottom row (a shear and a vertical stretch about the horizon). A patch
(`patch_plane`) is a convex facet under `parallax_motion`. Each record's polygons hold the plane's
region in its canonical coordinates, bounded by the canonical preimage of the frame over the clip.
All numbers go through layersynth.motion.detmath or plain arithmetic (bit-exact regeneration).
"""

from __future__ import annotations

import math

import numpy as np

from layersynth.motion import homography
from layersynth.render import sprites
from layersynth.scene.config import SceneConfig
from layersynth.scene.params import Appearance, BackgroundPlane, Motion, Pair

_MAX_SHEAR = 1.0  # |shear| of a ground plane at any frame: rows tilt at most 45 degrees
_MAX_STRETCH = 0.7  # |change of log vertical scale| of a ground plane over the clip
_REGION_PAD = 4.0  # canonical px around the frame's preimage: the mask is never cut short


def sample_shake(rng: np.random.Generator, cfg: SceneConfig) -> tuple[tuple[float, ...], ...]:
    """(S, 4) shake rows (component, amplitude, freq, phase): two sinusoids on each of tx, ty and
    one on the rotation, amplitudes up to cfg.shake_amplitude * H pixels (the rotation's moves
    the frame corners as far)."""
    h, w = cfg.height, cfg.width
    rows = []
    for component, count, unit in ((0, 2, h), (1, 2, h), (2, 1, h / (0.5 * math.hypot(w, h)))):
        for _ in range(count):
            amplitude = rng.uniform(0.3, 1.0) * cfg.shake_amplitude * unit
            rows.append((float(component), float(amplitude), float(rng.uniform(*cfg.shake_freq)),
                         float(rng.uniform(0, 2 * np.pi))))
    return tuple(rows)


def parallax_motion(camera: Motion, parallax: float, origin: Pair | None = None) -> Motion:
    """The trajectory of a plane `parallax` times nearer than the far plane: translation velocity
    and acceleration and zoom rate scaled by it; its canonical origin at image `origin` at tau = 0
    (None: where the camera's is)."""
    c = np.array(camera.coeffs, dtype=np.float64)
    c[0:2, 1:] *= parallax
    c[3, 1:] *= parallax
    if origin is not None:
        c[0, 0], c[1, 0] = origin
    return Motion(_triples(c), camera.shake)


def ground_plane(rng: np.random.Generator, cfg: SceneConfig, camera: Motion,
                 appearance: Appearance, taus: np.ndarray) -> BackgroundPlane:
    """A ground plane below a horizon at 0.3-0.6 of the frame height (at tau = 0)."""
    h, w, half = cfg.height, cfg.width, float(np.max(np.abs(taus)))
    p = float(rng.uniform(*cfg.parallax))
    horizon = float(rng.uniform(0.3, 0.6) * h)
    depth = h - horizon  # rows from the horizon to the frame's bottom
    c = np.array(camera.coeffs, dtype=np.float64)
    c[1, 0] = horizon
    shear = (p - 1.0) * c[0, 1:] / depth  # bottom row: p times the horizon's x velocity
    shear *= min(1.0, _MAX_SHEAR / max(abs(shear[0]) * half + abs(shear[1]) * half**2, 1e-12))
    stretch = (p - 1.0) * c[1, 1:] / depth  # d log(y scale) / d tau, likewise for y
    stretch *= min(1.0, _MAX_STRETCH / max(abs(stretch[0]) * half + abs(stretch[1]) * half**2,
                                           1e-12))
    c[5, 1:] += shear
    c[3, 1:] += 0.5 * stretch  # log y-scale = log_scale - log_aspect / 2, x-scale kept
    c[4, 1:] -= stretch
    motion = Motion(_triples(c), camera.shake)
    x0, x1, _, y1 = _frame_preimage(motion, taus, h, w)
    region = ((x0, 0.0), (x1, 0.0), (x1, max(y1, 1.0)), (x0, max(y1, 1.0)))
    return BackgroundPlane("ground", (region,), appearance, motion, p)


def patch_plane(rng: np.random.Generator, cfg: SceneConfig, camera: Motion,
                appearance: Appearance) -> BackgroundPlane:
    """A convex facet (4-6 sides, radius 0.15-0.35 H) seen in the frame at tau = 0."""
    h, w = cfg.height, cfg.width
    p = float(rng.uniform(*cfg.parallax))
    centre = rng.uniform([0.15 * w, 0.15 * h], [0.85 * w, 0.7 * h])
    verts = sprites.sample_polygon(rng, (4, 6), rng.uniform(0.15, 0.35) * h, 0.3, convex=True)
    motion = parallax_motion(camera, p, (float(centre[0]), float(centre[1])))
    polygon = tuple((float(x), float(y)) for x, y in verts)
    return BackgroundPlane("patch", (polygon,), appearance, motion, p)


def _frame_preimage(motion: Motion, taus: np.ndarray, h: int, w: int) -> tuple[float, ...]:
    """(x0, x1, y0, y1): canonical box holding H_e^-1 of the frame at every tau (padded)."""
    hom = homography.matrices(np.asarray(motion.coeffs), taus, motion.shake)
    corners = np.array([[-1.0, -1.0], [w, -1.0], [-1.0, h], [w, h]])
    pre = np.stack([homography.apply(m, corners) for m in homography.inverse(hom)])
    lo, hi = pre.reshape(-1, 2).min(0) - _REGION_PAD, pre.reshape(-1, 2).max(0) + _REGION_PAD
    return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])


def _triples(c: np.ndarray) -> tuple[tuple[float, float, float], ...]:
    return tuple((float(a), float(b), float(d)) for a, b, d in c)
