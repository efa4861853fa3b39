"""Sampling the motion events of a scene: static spells, paths entering or leaving the frame, and
full occlusions behind an occluder planned on an object's path.

Every event is a function of continuous trajectory time tau (frames from the clip centre, see
`scene.params`); nothing here looks at the frame grid beyond the clip's time span, so a finer
time step renders the same events. Rates and durations come from `SceneConfig` (the events
block). Each object has at most one of "static", "enter", "leave" (`draw_kind`); a scene has at
most one full occlusion (`plan_hiding`).
"""

from __future__ import annotations

import math

import numpy as np
import shapely

from layersynth.assets.sources import Assets
from layersynth.motion import detmath, homography, tps
from layersynth.render import articulated, exact_flow, sprites
from layersynth.scene.config import SceneConfig
from layersynth.scene.params import Motion, ObjectLayer, SceneParams, Sprite, StaticSpell

HIDE_MARGIN = 3.0  # background px the occluder reaches past the hidden object (mask rounding)
HIDE_STEP = 0.25  # trajectory-time step (frames) of the sweep the occluder covers
# Outward normals of the frame's left, right, top and bottom edges.
_EDGE_NORMALS = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, -1.0], [0.0, 1.0]])
_CIRCLE = 32  # points of the circle bounding a sprite, for its image extent


def draw_kind(rng: np.random.Generator, cfg: SceneConfig) -> str:
    """One object's event: "static", "enter", "leave" or "" (none), at the configured rates."""
    u = float(rng.random())
    if u < cfg.static_spell_prob:
        return "static"
    if u < cfg.static_spell_prob + cfg.enter_exit_prob:
        return "enter" if rng.random() < 0.5 else "leave"
    return ""


def sample_spell(rng: np.random.Generator, cfg: SceneConfig) -> StaticSpell | None:
    """A spell with its ramps inside the kept frames' time span; None if the clip is too short."""
    half, ramp = cfg.duration / 2.0, cfg.static_ramp
    room = 2.0 * half - 2.0 * ramp
    length = min(float(rng.uniform(*cfg.static_spell_frames)), room)
    if length <= 0.0:
        return None
    start = -half + ramp + float(rng.uniform(0.0, 1.0)) * (room - length)
    return StaticSpell(start, start + length, ramp)


def crossing_motion(rng: np.random.Generator, cfg: SceneConfig, motion: Motion, reach: float,
                    kind: str) -> Motion:
    """`motion` with a straight path that starts ("enter") or ends ("leave") with the sprite
    wholly outside the frame. `reach` (canonical px) bounds the sprite's distance from its centre.

    The outside end is one nominal frame before the first (enter) or after the last (leave) kept
    frame (`SceneConfig.reach`); the sprite's image
    first (last) touches the frame at a time drawn in the outer third of the clip, moving inwards
    within 40 degrees of the edge normal, fast enough to get a third of its extent inside.
    """
    h, w, half = cfg.height, cfg.width, cfg.reach
    side = int(rng.integers(4))
    normal = _EDGE_NORMALS[side]  # outward
    angle = math.atan2(-normal[1], -normal[0]) + float(rng.uniform(-0.7, 0.7))
    heading = np.array([math.cos(angle), math.sin(angle)])
    sign = -1.0 if kind == "enter" else 1.0  # which clip end is outside
    t_touch = sign * half * float(rng.uniform(1.0 / 3.0, 1.0))
    extent = _image_extent(np.asarray(motion.coeffs), t_touch, reach, normal)
    along = float(rng.uniform(0.2, 0.8))
    edge_point = np.array([
        w * along if side >= 2 else (0.0 if side == 0 else float(w)),
        h * along if side < 2 else (0.0 if side == 2 else float(h))])
    touch = edge_point + normal * extent  # centre when the footprint touches the edge
    inward = -float(heading[0] * normal[0] + heading[1] * normal[1])  # > cos(0.7)
    needed = (extent * 4.0 / 3.0) / (inward * (half + abs(t_touch)))
    speed = max(float(rng.uniform(*cfg.object_speed)) * h, needed)
    velocity = heading * speed if kind == "enter" else -heading * speed
    centre0 = touch - velocity * t_touch  # position at tau = 0
    rows = list(motion.coeffs)
    rows[0] = (float(centre0[0]), float(velocity[0]), 0.0)
    rows[1] = (float(centre0[1]), float(velocity[1]), 0.0)
    return Motion(tuple(rows))


def _image_extent(coeffs: np.ndarray, tau: float, reach: float, normal: np.ndarray) -> float:
    """How far (image px) along `normal` a sprite within `reach` of its centre extends at tau."""
    c = np.array(coeffs, dtype=np.float64)
    c[0:2] = 0.0  # centre at the image origin
    hom = homography.matrices(c, np.array([tau]))[0]
    a = np.arange(_CIRCLE) * (2.0 * math.pi / _CIRCLE)
    radius = reach / math.cos(math.pi / _CIRCLE)  # the polygon through the points holds the circle
    circle = radius * np.stack([detmath.cos(a), detmath.sin(a)], axis=1)
    image = homography.apply(hom, circle)
    return float((image[:, 0] * normal[0] + image[:, 1] * normal[1]).max())


def sprite_reach(points: np.ndarray, amplitude: np.ndarray) -> float:
    """Canonical px bound on the sprite's distance from its centre: control points (the polygon's
    vertices, or the silhouette grid whose corners are its box) moved by their amplitude, with
    10 % and 2 px for the spline's bulge between them."""
    p = np.asarray(points, dtype=np.float64)
    d = np.sqrt((p * p).sum(1)) + np.sqrt((np.asarray(amplitude) ** 2).sum(1))
    return float(d.max() * 1.1 + 2.0)


def plan_hiding(rng: np.random.Generator, cfg: SceneConfig, params: SceneParams,
                assets: Assets) -> tuple[int, tuple[float, float], np.ndarray] | None:
    """Pick a time window and an object and plan the occluder polygon that hides it there:
    (object index, (tau0, tau1), (n, 2) polygon in the background's canonical coordinates). The
    object is drawn among those whose centre is inside the frame at the window's middle; None when
    there is none.

    The polygon is the convex hull of the object's footprint over the window (sampled every
    HIDE_STEP frames of trajectory time) taken into the camera's coordinates, grown by
    HIDE_MARGIN: moving with the background, it covers the object at every time in the window.
    """
    half = cfg.duration / 2.0
    # At most half the clip, so that the object is seen before or after it (on short clips).
    length = min(float(rng.uniform(*cfg.full_occlusion_frames)), half)
    t0 = -half + float(rng.uniform(0.0, 1.0)) * (2.0 * half - length)
    window = (t0, t0 + length)
    mid = np.array([t0 + 0.5 * length])
    inside = [k for k, o in enumerate(params.objects) if _centre_inside(o, params, mid)]
    if not inside:
        return None
    k = inside[int(rng.integers(len(inside)))]
    layer = params.objects[k]
    taus = np.linspace(window[0] - HIDE_STEP, window[1] + HIDE_STEP,
                       int(math.ceil((length + 2 * HIDE_STEP) / HIDE_STEP)) + 1)
    occluder = params.occluder
    plane = occluder.motion if occluder is not None and occluder.motion is not None else None
    sweep = footprint(layer, params, assets, taus, plane).reshape(-1, 2)
    return k, window, _grown_hull(sweep, HIDE_MARGIN)


def _centre_inside(layer: ObjectLayer, params: SceneParams, tau: np.ndarray) -> bool:
    """Whether the object's centre (its canonical origin) is inside the frame at time tau (1,)."""
    hom = exact_flow.object_homographies(layer, params.camera, tau)[0][0]
    x, y = homography.apply(hom, np.zeros(2))
    return bool(0.0 <= x <= params.width and 0.0 <= y <= params.height)


def footprint(layer: ObjectLayer, params: SceneParams, assets: Assets,
              taus: np.ndarray, plane: Motion | None = None) -> np.ndarray:
    """(N, m, 2) the object's outline at trajectory times taus (N,), in the canonical coordinates
    of `plane` (the occluders' depth plane; None: the camera's, the far plane), through the
    object's exact map (spell included). An articulated body's outline is its parts' hulls, each
    through its own part map (the torso's with the TPS)."""
    hom, own = exact_flow.object_homographies(layer, params.camera, taus)
    points, coefs = exact_flow.deformation_splines(layer.deformation, params.clock(own))
    plane = params.camera if plane is None else plane
    camera_inv = homography.inverse(homography.matrices(np.asarray(plane.coeffs), taus,
                                                        plane.shake))
    if layer.sprite.kind == "articulated":
        body = _body_outline(layer.sprite.parts, points, coefs, own)
    else:
        body = _warped(sprite_outline(layer.sprite, assets), points, coefs)
    out = np.empty_like(body)
    for i in range(len(taus)):  # (N, m, 2): H at each time, then the camera's inverse
        out[i] = homography.apply(camera_inv[i], homography.apply(hom[i], body[i]))
    return out


def _warped(outline: np.ndarray, points: np.ndarray, coefs: np.ndarray) -> np.ndarray:
    """(N, m, 2): canonical outline points (m, 2) through the spline D at each of N times."""
    n = len(points)
    u = tps.kernel(((outline[:, None, :] - points) ** 2).sum(-1))  # (m, n): the same at all times
    return (detmath.matmul(u, coefs[:, :n]) + coefs[:, n:n + 1]
            + outline[:, :1] * coefs[:, n + 1:n + 2] + outline[:, 1:] * coefs[:, n + 2:n + 3])


def _body_outline(parts, points: np.ndarray, coefs: np.ndarray, own: np.ndarray) -> np.ndarray:
    """(N, m, 2) body coordinates (before H) of every part's hull at the object's own times: the
    torso's through the spline, each other part's through its rigid pose J_p (as `part_maps`)."""
    poses = articulated.poses(parts, own)  # (P, N, 3, 3)
    out = []
    for p, part in enumerate(parts):
        ring = _densify(_hull(np.asarray(part.vertices, dtype=np.float64)), 1.0)
        if part.parent < 0:
            out.append(_warped(ring, points, coefs))
        else:
            out.append(detmath.matmul(ring[None], np.swapaxes(poses[p, :, :2, :2], 1, 2))
                       + poses[p, :, None, :2, 2])
    return np.concatenate(out, axis=1)


def body_reach(parts, points: np.ndarray, amplitude: np.ndarray, half: float) -> float:
    """Canonical px bound on an articulated body's distance from its centre over |tau| <= half
    (`SceneConfig.reach`): every part's vertices posed every HIDE_STEP nominal frames (joint
    angles are sinusoids, so the sweep holds their extremes to within the step), the torso's
    moved by the spline's amplitude, with `sprite_reach`'s 10 % and 2 px."""
    taus = np.arange(-half, half + HIDE_STEP, HIDE_STEP)
    poses = articulated.poses(parts, taus)
    bulge = float(np.sqrt((np.asarray(amplitude) ** 2).sum(1)).max()) if len(amplitude) else 0.0
    far = 0.0
    for p, part in enumerate(parts):
        v = np.asarray(part.vertices, dtype=np.float64)
        posed = detmath.matmul(v[None], np.swapaxes(poses[p, :, :2, :2], 1, 2)) + poses[p, :, None,
                                                                                           :2, 2]
        far = max(far, float(np.sqrt((posed ** 2).sum(-1)).max()) + bulge)
    return max(far * 1.1 + 2.0, sprite_reach(points, amplitude))


def sprite_outline(sprite: Sprite, assets: Assets, spacing: float = 1.0) -> np.ndarray:
    """(m, 2) canonical points, at most `spacing` apart, on the convex hull of the sprite's mask."""
    if sprite.kind == "polygon":
        mask = sprites.polygon_mask([np.asarray(sprite.vertices, dtype=np.float64)])
    elif sprite.kind == "silhouette":
        mask = sprites.silhouette_mask(assets.silhouettes.get(sprite.silhouette), sprite.radius)
    else:
        raise ValueError(f"sprite kind {sprite.kind!r}: no outline for full occlusions")
    m = mask.mask
    inner = np.zeros_like(m)  # covered pixels whose 4 neighbours are covered: not on the hull
    inner[1:-1, 1:-1] = (m[1:-1, 1:-1] & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2]
                         & m[1:-1, 2:])
    rows, cols = np.nonzero(m & ~inner)
    corners = np.concatenate([np.stack([cols + dx, rows + dy], 1)
                              for dx in (-0.5, 0.5) for dy in (-0.5, 0.5)]).astype(np.float64)
    canonical = (corners - np.asarray(mask.origin)) / mask.scale
    return _densify(_hull(canonical), spacing)


def _hull(points: np.ndarray) -> np.ndarray:
    """(n, 2) -> (m, 2) vertices of the convex hull (shapely: exact input coordinates, no trig)."""
    # A line through the points has their hull; building it is one coordinate array (a
    # MultiPoint makes a geometry per point, 50x slower here).
    ring = shapely.LineString(points).convex_hull.exterior.coords
    return np.asarray(ring, dtype=np.float64)[:-1]


def _grown_hull(points: np.ndarray, margin: float) -> np.ndarray:
    """The hull of `points` grown by an octagon whose inscribed circle has radius `margin`."""
    hull = _hull(points)
    r = margin / math.cos(math.pi / 8)
    a = np.arange(8) * (math.pi / 4)
    octagon = r * np.stack([detmath.cos(a), detmath.sin(a)], axis=1)
    return _hull((hull[:, None, :] + octagon[None]).reshape(-1, 2))


def _densify(ring: np.ndarray, spacing: float) -> np.ndarray:
    """A closed ring (n, 2) with points added along each edge, at most `spacing` apart."""
    out = []
    for a, b in zip(ring, np.roll(ring, -1, axis=0), strict=True):
        d = b - a
        steps = max(1, int(math.ceil(math.hypot(float(d[0]), float(d[1])) / spacing)))
        out.append(a + d * (np.arange(steps)[:, None] / steps))
    return np.concatenate(out)
