"""Articulated sprites: rigid parts (torso, limbs, head, tail) joined at hinges, one object.

A body is a tuple of `Part` records (layersynth.scene.params) in body coordinates at rest pose
(canonical pixels, origin near the body's centre), in drawing order, nearest part first. Part p
hangs from part `parent` (-1: the root, the torso) at its `hinge`, and turns about it by the joint
angle

    theta_p(tau) = swing_p * sin(freq_p * tau + phase_p)       (radians, tau in frames)

a smooth function of the continuous trajectory time tau (never a per-frame draw). Its pose is the
affine map J_p(tau) = J_parent(tau) o R(hinge_p, theta_p(tau)), J_root = identity, so the part's
forward map is F_p,e = H_e o J_p(tau_e) for a rigid part, and H_e o D_e for the root, which
carries the object's TPS deformation D_e. Each part is drawn by the object kernel as its own
sub-layer with the object's label (`render.renderer`), so flow is exact per part, amodal is the
union of the parts and modal is the object's label wherever any part is visible.

At rest, the parts' canonical coordinates agree (one body frame), so one texture covers the whole
body and moves with each part. Hinges lie inside the parent and a limb's end at its hinge is a
half disc about it, so the parts stay joined at every angle.
"""

from __future__ import annotations

import math

import numpy as np
import shapely

from layersynth.motion import detmath
from layersynth.scene.params import Part

_ARC = 6  # vertices per half circle of a capsule's ends
_ELLIPSE = 20  # vertices of an ellipse outline


# ----------------------------------------------------------------------------- poses


def joint_angles(part: Part, taus: np.ndarray) -> np.ndarray:
    """(E,) joint angle of `part` at the trajectory times `taus` (radians)."""
    return part.swing * detmath.sin(part.freq * np.asarray(taus, np.float64) + part.phase)


def poses(parts: tuple[Part, ...], taus: np.ndarray) -> np.ndarray:
    """(P, E, 3, 3) affine poses J_p(tau_e) of every part (body rest coordinates -> body)."""
    out: dict[int, np.ndarray] = {}
    for p in range(len(parts)):
        _pose(parts, p, np.asarray(taus, np.float64), out, ())
    return np.stack([out[p] for p in range(len(parts))])


def _pose(parts, p: int, taus: np.ndarray, out: dict, seen: tuple) -> np.ndarray:
    if p in out:
        return out[p]
    part = parts[p]
    if part.parent < 0:
        out[p] = np.broadcast_to(np.eye(3), (len(taus), 3, 3)).copy()
        return out[p]
    if part.parent in seen or not 0 <= part.parent < len(parts) or part.parent == p:
        raise ValueError(f"articulated part {p}: parent {part.parent} makes no tree")
    parent = _pose(parts, part.parent, taus, out, (*seen, p))
    out[p] = detmath.matmul(parent, _rotation_about(part.hinge, joint_angles(part, taus)))
    return out[p]


def _rotation_about(hinge, theta: np.ndarray) -> np.ndarray:
    """(E, 3, 3): rotation by theta about the point `hinge` (x, y)."""
    c, s = detmath.cos(theta), detmath.sin(theta)
    hx, hy = hinge
    m = np.zeros((len(theta), 3, 3))
    m[:, 0, 0], m[:, 0, 1], m[:, 0, 2] = c, -s, hx - c * hx + s * hy
    m[:, 1, 0], m[:, 1, 1], m[:, 1, 2] = s, c, hy - s * hx - c * hy
    m[:, 2, 2] = 1.0
    return m


def root(parts: tuple[Part, ...]) -> int:
    """Index of the root part (the torso: parent -1)."""
    return next(p for p, part in enumerate(parts) if part.parent < 0)


def outline(parts: tuple[Part, ...], pose: np.ndarray | None = None) -> shapely.Geometry:
    """The body's outline: the shapely union of its parts, posed by `pose` (P, 3, 3) if given."""
    polys = []
    for p, part in enumerate(parts):
        v = np.asarray(part.vertices, np.float64)
        if pose is not None:
            v = v @ pose[p, :2, :2].T + pose[p, :2, 2]
        polys.append(shapely.Polygon(v))
    return shapely.union_all(polys)


# ----------------------------------------------------------------------------- outlines


def capsule_outline(p0, p1, r0: float, r1: float) -> np.ndarray:
    """(m, 2) vertices of a tapered capsule from p0 (radius r0) to p1 (radius r1), simple, CCW."""
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    a = math.atan2(dy, dx)
    end = np.linspace(-math.pi / 2, math.pi / 2, _ARC + 1)
    start = end + math.pi
    ring = [np.stack([p1[0] + r1 * detmath.cos(a + end), p1[1] + r1 * detmath.sin(a + end)], 1),
            np.stack([p0[0] + r0 * detmath.cos(a + start),
                      p0[1] + r0 * detmath.sin(a + start)], 1)]
    return np.concatenate(ring)


def ellipse_outline(c, ax: float, ay: float, angle: float = 0.0) -> np.ndarray:
    """(_ELLIPSE, 2) vertices of an ellipse of half-axes (ax, ay) at c, rotated by `angle`."""
    t = np.linspace(0.0, 2 * math.pi, _ELLIPSE, endpoint=False)
    x, y = ax * detmath.cos(t), ay * detmath.sin(t)
    ca, sa = math.cos(angle), math.sin(angle)
    return np.stack([c[0] + ca * x - sa * y, c[1] + sa * x + ca * y], 1)


# ----------------------------------------------------------------------------- sampling


def sample_body(rng: np.random.Generator, radius: float, swing: float,
                speed: tuple[float, float]) -> tuple[Part, ...]:
    """A random body (quadruped, biped, chain or crawler) spanning about 2 * radius.

    swing: largest joint amplitude (rad); speed: (lo, hi) joint angular frequency, rad per frame.
    """
    plan = _TEMPLATES[int(rng.integers(len(_TEMPLATES)))](rng)
    pts = np.concatenate([np.asarray(v) for v, *_ in plan])
    scale = radius / max(float(np.abs(pts - pts.mean(0)).max()), 1e-9)
    centre = pts.mean(0)
    parts = []
    for vertices, parent, hinge, moves in plan:
        amp = rng.uniform(0.3, 1.0) * swing if moves else 0.0
        parts.append(Part(vertices=_pairs((np.asarray(vertices) - centre) * scale),
                          parent=parent, hinge=_pair((np.asarray(hinge) - centre) * scale),
                          swing=float(amp), freq=float(rng.uniform(*speed)),
                          phase=float(rng.uniform(0, 2 * math.pi))))
    return tuple(parts)


def _limb_chain(rng, start, angle: float, length: float, r: float, parent: int, first: int,
                segments: int) -> list:
    """Plan entries of a limb of `segments` capsules from `start`; entry k hangs from k - 1."""
    out, p0 = [], start
    for k in range(segments):
        angle += rng.uniform(-0.3, 0.3)
        p1 = (p0[0] + length / segments * math.cos(angle), p0[1] + length / segments *
              math.sin(angle))
        rk0, rk1 = r * (1 - 0.2 * k), r * (1 - 0.2 * (k + 1))
        out.append((capsule_outline(p0, p1, rk0, rk1), parent if k == 0 else first + k - 1, p0,
                    True))
        p0 = p1
    return out


def _quadruped(rng) -> list:
    """Near legs, head, torso, tail, far legs (nearest first). Entry: (vertices, parent, hinge,
    moves); parent -2 = the torso, placed later (`_fix_root`)."""
    bw, bh, leg, r = rng.uniform(0.9, 1.2), rng.uniform(0.35, 0.5), rng.uniform(0.8, 1.2), 0.13
    plan: list = []
    for x in (0.7, -0.6):  # near front, near back; the far pair comes last
        plan += _limb_chain(rng, (x * bw, 0.4 * bh), math.pi / 2, leg, r, -2, len(plan), 2)
    head_at = (0.85 * bw, -0.4 * bh)
    plan.append((capsule_outline(head_at, (1.3 * bw, -1.6 * bh), 0.18, 0.26), -2, head_at, True))
    torso_index = len(plan)
    plan.append((ellipse_outline((0.0, 0.0), bw, bh), -1, (0.0, 0.0), False))
    tail_at = (-0.9 * bw, -0.3 * bh)
    plan.append((capsule_outline(tail_at, (-1.6 * bw, -0.2 * bh - rng.uniform(0, 0.6)), 0.09,
                                 0.04), -2, tail_at, True))
    for x in (0.55, -0.75):
        plan += _limb_chain(rng, (x * bw, 0.4 * bh), math.pi / 2, leg, 0.8 * r, -2, len(plan), 2)
    return _fix_root(plan, torso_index)


def _biped(rng) -> list:
    """Near arm, near leg, head, torso, far leg, far arm."""
    tall, sh, r = rng.uniform(0.9, 1.2), rng.uniform(0.25, 0.35), 0.12
    plan: list = []
    plan += _limb_chain(rng, (sh, -tall / 2 + 0.1), math.pi / 2 - 0.3, 1.0, 0.9 * r, -2, 0, 2)
    plan += _limb_chain(rng, (0.1, tall / 2), math.pi / 2 - 0.1, 1.3, r, -2, len(plan), 2)
    plan.append((ellipse_outline((0.0, -tall / 2 - 0.45), 0.26, 0.3), -2,
                 (0.0, -tall / 2 - 0.1), True))
    torso_index = len(plan)
    plan.append((capsule_outline((0.0, -tall / 2), (0.0, tall / 2), 0.3, 0.25), -1, (0.0, 0.0),
                 False))
    plan += _limb_chain(rng, (-0.1, tall / 2), math.pi / 2 + 0.1, 1.3, r, -2, len(plan), 2)
    plan += _limb_chain(rng, (-sh, -tall / 2 + 0.1), math.pi / 2 + 0.3, 1.0, 0.9 * r, -2,
                        len(plan), 2)
    return _fix_root(plan, torso_index)


def _chain(rng) -> list:
    """A fish or snake: a torso and a chain of segments behind it, ending in a fin."""
    n, seg, r = int(rng.integers(2, 5)), rng.uniform(0.5, 0.8), rng.uniform(0.25, 0.4)
    torso = (ellipse_outline((0.0, 0.0), 0.7, r), -1, (0.0, 0.0), False)
    plan, x = [torso], -0.5
    for k in range(n):
        rk = r * (1 - 0.6 * (k + 1) / (n + 1))
        plan.append((capsule_outline((x, 0.0), (x - seg, 0.0), rk * 1.1, rk), k, (x, 0.0), True))
        x -= seg
    fin = np.array([[x + 0.1, 0.0], [x - 0.5, -0.45], [x - 0.35, 0.0], [x - 0.5, 0.45]])
    plan.append((fin, n, (x, 0.0), True))
    return plan


def _crawler(rng) -> list:
    """A round body with 4 to 6 legs of two segments around it (a starfish, a spider)."""
    body, n = rng.uniform(0.4, 0.6), int(rng.integers(4, 7))
    plan: list = [(ellipse_outline((0.0, 0.0), body, body * rng.uniform(0.7, 1.0)), -1,
                   (0.0, 0.0), False)]
    for k in range(n):
        a = 2 * math.pi * (k + rng.uniform(-0.15, 0.15)) / n
        start = (0.7 * body * math.cos(a), 0.7 * body * math.sin(a))
        plan += _limb_chain(rng, start, a, rng.uniform(1.0, 1.5), 0.13, 0, len(plan), 2)
    return plan


def _fix_root(plan: list, torso_index: int) -> list:
    """Entries with parent -2 hang from the torso, whose index is only known once placed."""
    return [(v, torso_index if parent == -2 else parent, h, m) for v, parent, h, m in plan]


_TEMPLATES = (_quadruped, _biped, _chain, _crawler)


def _pair(a) -> tuple[float, float]:
    return (float(a[0]), float(a[1]))


def _pairs(a) -> tuple[tuple[float, float], ...]:
    return tuple((float(x), float(y)) for x, y in np.asarray(a, dtype=np.float64))
