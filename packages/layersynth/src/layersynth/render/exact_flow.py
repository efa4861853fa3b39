"""Exact ground-truth flow from forward maps (DESIGN.md, "One way to get exact flow cheaply").

Every layer has a forward map per extended frame e = 0 .. T + 2G - 1 (kept frame t is e = t + G,
G = max(gaps); the extra frames give every flow gap at the clip ends; times in
`layersynth.scene.params`), from canonical sprite coordinates c to image pixels x:

    objects:                F_e = H_e o D_e   (D_e a thin-plate spline, H_e a homography; a
                            static spell pauses both relative to the camera, `motion.spells`)
    articulated part p:     F_e = H_e o J_p,e (J_p,e its rigid pose, `articulated`, at the
                            object's own time); the root part (torso) F_e = H_e o D_e
    background planes, occluders:  F_e = H_e  (each plane's own trajectory, with its shake)

Rendering needs c = F_e^-1(x) at every pixel x the layer may cover: q = H_e^-1 x in closed form,
then D_e(c) = q by Newton steps with the spline's analytic Jacobian (`NEWTON_TOL`,
`NEWTON_MAX_ITER`), for objects only inside `sprite_boxes`, a pixel box holding F_e of the
sprite's canonical rectangle. Keeping c, the layer's flow at x is a forward evaluation:

    flow index 2i (+g_i): F_{e+g_i}(c) - x        2i + 1 (-g_i): F_{e-g_i}(c) - x

for the gaps g_0, g_1, ... (default (1,): index 0 = +1, 1 = -1), in pixels, (u, v) = (along W,
along H), exact up to the Newton tolerance (residual ~1e-5 px). A frame's flow takes at each
pixel the flow of the layer visible there (`composition`).

The per-pixel work is done by the numba kernels `kernels.object_frame` (objects),
`kernels.flat_frame` (occluders, near planes) and `kernels.background_frame`, inline, from the
maps built here (`object_map`, `camera_map`). `ForwardMap.forward`, `ForwardMap.inverse` and
`flow_at` are the same maths in numpy, for checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from layersynth.motion import detmath, homography, spells, tps
from layersynth.render import articulated
from layersynth.render.sprites import SpriteMask
from layersynth.scene.params import Deformation, Motion, ObjectLayer, SceneParams, gap_offsets

NEWTON_TOL = 0.02  # last Newton step (canonical px) taken unchecked; residual after it ~1e-5 px
NEWTON_MAX_ITER = 12
_BOX_SAMPLES = 24  # points per edge of the sprite rectangle used to bound F_e(sprite)
_BOX_PAD = 2  # pixels added around that bound (the edges between samples bulge a little)


@dataclass(frozen=True, eq=False)
class ForwardMap:
    """F_e = H_e o D_e of one layer over the E = T + 2G extended frames, flows at `gaps`.

    hom, hom_inv: (E, 3, 3) float64, H_e and its inverse. points (n, 2) and coefs (E, n + 3, 2):
    the spline D_e (layersynth.motion.tps); both None for a layer with F_e = H_e, or n = 0 and
    coefs the identity for a rigid articulated part (what the object kernel reads).
    """

    hom: np.ndarray
    hom_inv: np.ndarray
    points: np.ndarray | None = None
    coefs: np.ndarray | None = None
    gaps: tuple[int, ...] = (1,)

    @property
    def margin(self) -> int:
        """G = max(gaps): kept frame t is extended frame t + G."""
        return max(self.gaps)

    @cached_property
    def offsets(self) -> np.ndarray:
        """(N,) int64 extended-frame offsets of the flow targets, N = 2 len(gaps): +g1, -g1, ..."""
        return gap_offsets(self.gaps)

    def homographies(self, e: int) -> tuple[np.ndarray, np.ndarray]:
        """(H_e^-1 (3, 3), targets (N, 3, 3) H_{e+g1}, H_{e-g1}, ...): a kernel's matrices at
        extended frame e, a kept frame (G <= e < E - G)."""
        return self.hom_inv[e], self._hom_to[self._kept(e)]

    def splines(self, e: int) -> tuple[np.ndarray, np.ndarray]:
        """(C_e (n + 3, 2), targets (N, n + 3, 2) C_{e+g1}, C_{e-g1}, ...): a kernel's spline
        coefficients at extended frame e, a kept frame."""
        return self.coefs[e], self._coefs_to[self._kept(e)]

    # The targets of every frame, gathered once: a kernel call then takes views (a gather per
    # call costs ~7 us, ~3 % of a frame at the oclr size).
    @cached_property
    def _hom_to(self) -> np.ndarray:
        """(E - 2G, N, 3, 3) the flow targets' homographies of each kept frame."""
        return self.hom[self._targets]

    @cached_property
    def _coefs_to(self) -> np.ndarray:
        """(E - 2G, N, n + 3, 2) the flow targets' spline coefficients of each kept frame."""
        return self.coefs[self._targets]

    @cached_property
    def _targets(self) -> np.ndarray:
        kept = np.arange(self.margin, len(self.hom) - self.margin)
        return kept[:, None] + self.offsets

    def _kept(self, e: int) -> int:
        if not self.margin <= e < len(self.hom) - self.margin:
            raise IndexError(f"extended frame {e}: the flow targets of frames {self.margin} .. "
                             f"{len(self.hom) - self.margin - 1} only")
        return e - self.margin

    def forward(self, e: int, c: np.ndarray) -> np.ndarray:
        """(..., 2) canonical points -> (..., 2) image points F_e(c)."""
        warped = c if self._rigid else tps.evaluate(self.coefs[e], self.points, c)
        return homography.apply(self.hom[e], warped)

    def inverse(self, e: int, x: np.ndarray, tol: float = 1e-10) -> np.ndarray:
        """(m, 2) image points -> (m, 2) canonical points c with F_e(c) = x (NaN where Newton
        fails)."""
        q = homography.apply(self.hom_inv[e], np.asarray(x, dtype=np.float64).reshape(-1, 2))
        return q if self._rigid else tps.invert(self.coefs[e], self.points, q, tol=tol)

    @property
    def _rigid(self) -> bool:
        return self.coefs is None or len(self.points) == 0


def camera_map(motion: Motion, params: SceneParams) -> ForwardMap:
    """A plane's map, F_e = H_e of its trajectory (shake included): the camera's (far plane), a
    near plane's (layersynth.render.planes) or the occluders' plane."""
    hom = homography.matrices(np.asarray(motion.coeffs), params.taus, motion.shake)
    return ForwardMap(hom, homography.inverse(hom), gaps=params.gaps)


def object_map(layer: ObjectLayer, params: SceneParams) -> ForwardMap:
    """An object's map: its deformation's spline D_e after its homography trajectory H_e."""
    taus = params.taus
    hom, own = object_homographies(layer, params.camera, taus)
    points, coefs = deformation_splines(layer.deformation, params.clock(own))
    return ForwardMap(hom, homography.inverse(hom), points, coefs, params.gaps)


def part_maps(layer: ObjectLayer, params: SceneParams) -> list[ForwardMap]:
    """One map per part of an articulated object, in its parts' order: the root's is
    `object_map` (H_e o D_e); another part's is H_e o J_p,e with an identity spline of no points.
    The joints run on the object's own time, so a static spell freezes the pose too."""
    count = params.extended
    hom, own = object_homographies(layer, params.camera, params.taus)
    poses = articulated.poses(layer.sprite.parts, own)  # (P, E, 3, 3)
    identity = np.ascontiguousarray(np.broadcast_to(np.array([[0.0, 0.0], [1.0, 0.0],
                                                              [0.0, 1.0]]), (count, 3, 2)))
    maps = []
    for p, part in enumerate(layer.sprite.parts):
        if part.parent < 0:
            maps.append(object_map(layer, params))
            continue
        hp = detmath.matmul(hom, poses[p])
        maps.append(ForwardMap(hp, homography.inverse(hp), np.zeros((0, 2)), identity,
                               params.gaps))
    return maps


def object_homographies(layer: ObjectLayer, camera: Motion, taus: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3, 3) H at trajectory times taus (N,), and (N,) the object's own time s: s = tau and
    H = G(tau) without a static spell, else the warp and C(tau) C(s)^-1 G(s) of motion.spells."""
    coeffs = np.asarray(layer.motion.coeffs)
    if layer.spell is None:
        return homography.matrices(coeffs, taus), np.asarray(taus, dtype=np.float64)
    sp = layer.spell
    own = spells.warp(taus, sp.start, sp.end, sp.ramp)
    return spells.trajectory(coeffs, np.asarray(camera.coeffs), taus, own,
                             camera.shake), own


def deformation_splines(d: Deformation, times) -> tuple[np.ndarray, np.ndarray]:
    """(n, 2) control points and (N, n + 3, 2) coefficients of D at N phase-clock times k
    (`times` an (N,) array, continuous, see `SceneParams.clock`, or a count N for k = 0 .. N - 1):
    the spline taking P_i to P_i + amplitude_i * sin(freq_i * k + phase_i)."""
    points = np.asarray(d.points, dtype=np.float64)
    if np.ndim(times) == 0:
        times = np.arange(times, dtype=np.float64)
    e = np.asarray(times, dtype=np.float64)[:, None, None]
    phase = np.asarray(d.freq)[None, :, None] * e + np.asarray(d.phase)[None, :, None]
    targets = points + np.asarray(d.amplitude) * detmath.sin(phase)  # (count, n, 2)
    return points, np.ascontiguousarray(tps.fit(points, targets))


def sprite_boxes(fmap: ForwardMap, mask: SpriteMask, height: int, width: int) -> np.ndarray:
    """(E, 4) int64 pixel boxes (y0, y1, x0, x1), half-open, clipped to the frame, holding F_e of
    the sprite's canonical rectangle: the only pixels an object's kernel inverts."""
    x0, x1, y0, y1 = mask.extent()
    s = np.linspace(0.0, 1.0, _BOX_SAMPLES)
    edge = np.concatenate([
        np.stack([x0 + (x1 - x0) * s, np.full_like(s, y0)], 1),
        np.stack([x0 + (x1 - x0) * s, np.full_like(s, y1)], 1),
        np.stack([np.full_like(s, x0), y0 + (y1 - y0) * s], 1),
        np.stack([np.full_like(s, x1), y0 + (y1 - y0) * s], 1)])  # (m, 2)
    points, coefs, hom = fmap.points, fmap.coefs, fmap.hom
    n = len(points)
    u = tps.kernel(((edge[:, None, :] - points) ** 2).sum(-1))  # (m, n), the same every frame
    bent = detmath.matmul(u, coefs[:, :n]) if n else 0.0  # a rigid part has no kernel terms
    warped = (bent + coefs[:, n:n + 1]
              + edge[:, :1] * coefs[:, n + 1:n + 2] + edge[:, 1:] * coefs[:, n + 2:n + 3])
    wgt = warped[..., 0] * hom[:, 2:3, 0] + warped[..., 1] * hom[:, 2:3, 1] + hom[:, 2:3, 2]
    px = (warped[..., 0] * hom[:, 0:1, 0] + warped[..., 1] * hom[:, 0:1, 1] + hom[:, 0:1, 2]) / wgt
    py = (warped[..., 0] * hom[:, 1:2, 0] + warped[..., 1] * hom[:, 1:2, 1] + hom[:, 1:2, 2]) / wgt
    boxes = np.stack([np.floor(py.min(1)) - _BOX_PAD, np.ceil(py.max(1)) + _BOX_PAD + 1,
                      np.floor(px.min(1)) - _BOX_PAD, np.ceil(px.max(1)) + _BOX_PAD + 1], 1)
    limits = np.array([height, height, width, width])
    return np.clip(boxes, 0, limits).astype(np.int64)


def flow_at(fmap: ForwardMap, e: int, c: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The layer's flow at image points x (..., 2) whose canonical points are c = F_e^-1(x):
    (N, ..., 2) float64, index 2i = F_{e+g_i}(c) - x, 2i + 1 = F_{e-g_i}(c) - x for the map's gaps
    (default: 0 = +1, 1 = -1; what the kernels write)."""
    return np.stack([fmap.forward(e + int(d), c) - x for d in fmap.offsets])
