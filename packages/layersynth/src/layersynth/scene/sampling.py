"""The scene sampler: `sample_scene(rng, cfg, assets)` draws every random choice of a scene.

Rendering is a pure function of the record it returns (`layersynth.render.renderer.render`). The
occlusion-range retry renders each candidate's masks (`render_masks`) to measure its hidden share:
this module depends on the renderer, the renderer only on the records in `layersynth.scene.params`.

Time: every draw depends on the clip's duration D = (T - 1) * S (`SceneConfig.duration`, nominal
frames) and never on the frame count T or the time step S alone, and every bound on a trajectory
holds over |tau| <= D / 2 + 1 (`SceneConfig.reach`): the same seed at S / 2 with 2T - 1 frames
draws the same scene, whose even frames are the frames at S (`layersynth.scene.params`).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from layersynth.assets.sources import Assets, TextureSource
from layersynth.motion import detmath
from layersynth.render import articulated, sprites
from layersynth.render.composition import occlusion_fraction
from layersynth.render.renderer import render_masks
from layersynth.scene import depth, events, reorder
from layersynth.scene.config import SceneConfig
from layersynth.scene.params import (
    Appearance,
    BackgroundPlane,
    Deformation,
    Motion,
    ObjectLayer,
    Occluder,
    Pair,
    SceneParams,
    Sprite,
    Triple,
    video_frames,
)


def sample_scene(rng: np.random.Generator, cfg: SceneConfig, assets: Assets) -> SceneParams:
    """Draw a scene, its motion events included (`layersynth.scene.events`); re-draw (at most
    cfg.occlusion_tries times) until its hidden fraction of object area lies in cfg.occlusion.
    Raises ValueError when no draw meets it."""
    if tuple(cfg.occlusion) == (0.0, 1.0):
        return _sample_once(rng, cfg, assets)
    lo, hi = cfg.occlusion
    fractions = []
    for _ in range(cfg.occlusion_tries):
        params = _sample_once(rng, cfg, assets)
        fractions.append(occlusion_fraction(*render_masks(nominal_rate(params), assets)))
        if lo <= fractions[-1] <= hi:
            return params
    raise ValueError(
        f"occlusion {lo}:{hi}: none of {cfg.occlusion_tries} sampled scenes met it (hidden "
        f"fractions seen {min(fractions):.3f}..{max(fractions):.3f}); widen the range, allow more "
        f"objects or raise occlusion_tries")


def nominal_rate(params: SceneParams) -> SceneParams:
    """The same scene over the same duration at about one frame per nominal frame (exactly, for a
    whole number of nominal frames) with gaps (1,): where `sample_scene` measures a candidate's
    hidden fraction, so that the choice does not depend on the time step."""
    frames = int(round(params.duration)) + 1
    step = params.duration / (frames - 1) if frames > 1 else 1.0
    return replace(params, frames=frames, time_step=step, gaps=(1,))


# Scenes drawn (same object count) for a depth-order change both of whose orders show where the
# pair overlaps; most scenes give one within a few (docs/generate.md, "Depth-order changes").
ORDER_TRIES = 12
# ... and, while none of them had any candidate at all, up to this many in all (small frames and
# short clips, where a crossing pair is rare: 48 x 80 at 8 frames failed 1 sequence in ~60 at 12).
ORDER_TRIES_MAX = 64


def _sample_once(rng: np.random.Generator, cfg: SceneConfig, assets: Assets) -> SceneParams:
    k = cfg.objects[int(rng.integers(len(cfg.objects)))]
    params = _draw(rng, cfg, assets, k)
    # No draw at rate 0: the scenes of configs without order changes stay bit for bit as before.
    if k < 2 or cfg.order_change_prob == 0.0 or rng.random() >= cfg.order_change_prob:
        return params
    return _change_order(rng, cfg, assets, params)


def _change_order(rng: np.random.Generator, cfg: SceneConfig, assets: Assets,
                  params: SceneParams) -> SceneParams:
    """`params` with one depth-order change (`layersynth.scene.reorder`), the scene re-drawn
    with its object count (at most ORDER_TRIES scenes) until both orders show where the pair
    overlaps; else the first of the best-scoring scenes seen, drawing on (up to ORDER_TRIES_MAX
    scenes) while none had a candidate. ValueError when none of those had one (a pair never
    apart, or for a crossing never overlapping: cramped or short clips)."""
    fallback = None
    for attempt in range(ORDER_TRIES_MAX):
        if attempt >= ORDER_TRIES and fallback is not None:
            break
        if attempt:
            params = _draw(rng, cfg, assets, len(params.objects))
        nominal = nominal_rate(params)
        amodal, _ = render_masks(nominal, assets)
        taus = nominal.taus[nominal.margin:nominal.margin + nominal.frames]
        plan = reorder.plan_change(rng, cfg, params, taus, amodal)
        if plan is not None and plan[0] == reorder.BOTH_SEEN:
            return plan[1]
        if plan is not None and (fallback is None or plan[0] > fallback[0]):
            fallback = plan
    if fallback is None:
        where = "overlapping" if cfg.order_change_crossing else "apart"
        raise ValueError(f"order_change_prob: in none of {ORDER_TRIES_MAX} scenes drawn were two "
                         f"objects adjacent in depth ever {where}; use longer clips or a larger "
                         f"frame")
    return fallback[1]


def _draw(rng: np.random.Generator, cfg: SceneConfig, assets: Assets, k: int) -> SceneParams:
    """One scene of k objects, every event but depth-order changes drawn."""
    objects = tuple(_sample_object(rng, cfg, assets) for _ in range(k))
    background = _sample_appearance(rng, cfg, assets.background_source, cfg.jitter[1])
    camera = _sample_camera(rng, cfg)
    occluder = (_sample_occluder(rng, cfg, assets, camera) if rng.random() < cfg.occluder_prob
                else None)
    video = None
    if assets.videos is not None and rng.random() < cfg.video_background_prob:
        window = assets.videos.sample(rng, video_frames(cfg.duration), (cfg.height, cfg.width))
        video = window.to_dict()
    planes = ()  # a background video stays one far plane: its own depth is unknown
    if video is None and rng.random() < cfg.parallax_prob:
        planes = _sample_planes(rng, cfg, assets, camera)
    params = SceneParams(cfg.frames, cfg.height, cfg.width, objects, background, camera, occluder,
                         video, planes, time_step=cfg.time_step, gaps=cfg.gaps)
    if rng.random() < cfg.full_occlusion_prob:
        params = _hide_one(rng, cfg, assets, params)
    return params


def _hide_one(rng: np.random.Generator, cfg: SceneConfig, assets: Assets,
              params: SceneParams) -> SceneParams:
    """The full-occlusion event: an occluder polygon planned on one object's path (appended to
    the scene's occluder, or a new occluder with its own appearance)."""
    plan = events.plan_hiding(rng, cfg, params, assets)
    if plan is None:
        return params
    k, window, polygon = plan
    occluder = params.occluder
    if occluder is None:
        occluder = Occluder((), _sample_appearance(rng, cfg, assets.textures, cfg.jitter[1]))
    occluder = replace(occluder, polygons=(*occluder.polygons, _pairs(polygon)))
    return replace(params, occluder=occluder, hidden=k, hidden_window=window)


# An articulated torso's TPS displacement is this share of a polygon's (d < deform * D / 4): the
# limbs hang from the rigid body frame, so a torso bent further would pull away from them.
_TORSO_DEFORM = 0.25


def _sample_object(rng: np.random.Generator, cfg: SceneConfig, assets: Assets) -> ObjectLayer:
    radius = float(rng.uniform(*cfg.object_size) * cfg.height)
    if rng.random() < cfg.articulated_prob:
        parts = articulated.sample_body(rng, radius, cfg.articulated_swing, cfg.articulated_speed)
        sprite = Sprite("articulated", radius, parts=parts)
        points = np.asarray(parts[articulated.root(parts)].vertices)[::4]
        gaps = sprites.nearest_distance(points) * _TORSO_DEFORM
    elif rng.random() < cfg.polygon_prob:
        verts = sprites.sample_polygon(rng, cfg.polygon_sides, radius, cfg.min_vertex_gap,
                                       convex=bool(rng.random() >= cfg.polygon_nonconvex))
        sprite = Sprite("polygon", radius, vertices=_pairs(verts))
        points, gaps = verts, sprites.nearest_distance(verts)
    else:
        sil = int(rng.integers(len(assets.silhouettes)))
        sprite = Sprite("silhouette", radius, silhouette=sil)
        shape = assets.silhouettes.get(sil).shape
        points, gap = sprites.silhouette_grid(shape, radius, cfg.silhouette_grid)
        gaps = np.full(len(points), gap)
    appearance = _sample_appearance(rng, cfg, assets.textures, cfg.jitter[0])
    motion = _sample_object_motion(rng, cfg, radius)
    deformation = _sample_deformation(rng, cfg, points, gaps)
    kind = events.draw_kind(rng, cfg)
    spell = events.sample_spell(rng, cfg) if kind == "static" else None
    if kind in ("enter", "leave"):
        amplitude = np.asarray(deformation.amplitude)
        reach = (events.body_reach(sprite.parts, points, amplitude, cfg.reach)
                 if sprite.kind == "articulated" else events.sprite_reach(points, amplitude))
        motion = events.crossing_motion(rng, cfg, motion, reach, kind)
    return ObjectLayer(sprite, appearance, motion, deformation, spell=spell,
                       crossing=kind if kind in ("enter", "leave") else "")


def _sample_deformation(rng: np.random.Generator, cfg: SceneConfig, points: np.ndarray,
                        gaps: np.ndarray) -> Deformation:
    """Perturb a random non-empty subset of control points by d_i < cfg.deform * D_i."""
    n = len(points)
    moving = rng.random(n) < 0.5
    moving[rng.integers(n)] = True
    size = rng.uniform(0.0, cfg.deform, n) * gaps * moving
    angle = rng.uniform(0, 2 * np.pi, n)
    amplitude = np.stack([size * detmath.cos(angle), size * detmath.sin(angle)], axis=1)
    freq = rng.uniform(*cfg.deform_speed, n)
    phase = rng.uniform(0, 2 * np.pi, n)
    return Deformation(_pairs(points), _pairs(amplitude), _floats(freq), _floats(phase))


def _sample_appearance(rng: np.random.Generator, cfg: SceneConfig, source: TextureSource,
                       jitter: float) -> Appearance:
    amp = rng.uniform(0.0, jitter, 3) if cfg.photometric else np.zeros(3)
    texture = int(rng.integers(len(source)))
    h, w = source.get(texture).shape[:2]
    return Appearance(
        texture=texture,
        offset=_floats(rng.uniform([0, 0], [w, h])),
        scale=float(math.exp(rng.uniform(math.log(0.5), math.log(1.5)))),
        flip=(bool(rng.random() < 0.5), bool(rng.random() < 0.5)),
        gain=_floats(rng.uniform(0.7, 1.15, 3)),
        bias=_floats(rng.uniform(-12, 12, 3)),
        jitter_amp=_floats(amp),
        jitter_freq=float(rng.uniform(0.1, 0.5)),
        jitter_phase=_floats(rng.uniform(0, 2 * np.pi, 3)),
    )


def _sample_object_motion(rng: np.random.Generator, cfg: SceneConfig, radius: float) -> Motion:
    h, w, half = cfg.height, cfg.width, cfg.reach
    centre = rng.uniform([0.2 * w, 0.2 * h], [0.8 * w, 0.8 * h])
    speed = rng.uniform(*cfg.object_speed) * h
    heading = rng.uniform(0, 2 * np.pi)
    velocity = speed * np.array([math.cos(heading), math.sin(heading)])
    accel = rng.uniform(-1, 1, 2) * speed / (2 * half)  # bends the path, at most doubles speed
    # Keep the centre inside the frame at every frame: shrink the displacement if needed.
    reach = np.abs(velocity) * half + np.abs(accel) * half**2
    room = np.minimum(centre, [w, h] - centre) - 0.05 * np.array([w, h])
    shrink = min(1.0, float(np.min(room / np.maximum(reach, 1e-9))))
    velocity, accel = velocity * shrink, accel * shrink
    persp_lim = cfg.object_perspective / (2.0 * radius)  # |p . c| <= limit over the sprite
    coeffs = [
        (centre[0], velocity[0], accel[0]),
        (centre[1], velocity[1], accel[1]),
        (rng.uniform(0, 2 * np.pi), rng.uniform(-1, 1) * cfg.object_rotation, 0.0),
        (0.0, rng.uniform(-1, 1) * cfg.object_zoom, 0.0),
        (rng.uniform(-0.2, 0.2), rng.uniform(-1, 1) * 0.1 / half, 0.0),
        _bounded_linear(rng, cfg.object_shear, half),
        _bounded_linear(rng, persp_lim, half),
        _bounded_linear(rng, persp_lim, half),
    ]
    return Motion(tuple(_floats(c) for c in coeffs))


def _sample_camera(rng: np.random.Generator, cfg: SceneConfig) -> Motion:
    """The far plane's trajectory: a pan (fast in cfg.fast_pan_prob of scenes, then mostly
    horizontal) with acceleration, mild rotation, zoom and tilt, and shake in cfg.shake_prob."""
    h, w, half = cfg.height, cfg.width, cfg.reach
    velocity = rng.uniform(-1, 1, 2) * cfg.camera_speed * h
    if rng.random() < cfg.fast_pan_prob:
        heading = rng.uniform(-0.3, 0.3) + (np.pi if rng.random() < 0.5 else 0.0)
        speed = rng.uniform(*cfg.fast_pan_speed) * h
        velocity = speed * np.array([math.cos(heading), math.sin(heading)])
    accel = rng.uniform(-1, 1, 2) * (0.5 * cfg.camera_accel * h)  # coefficient of tau**2
    shake = depth.sample_shake(rng, cfg) if rng.random() < cfg.shake_prob else ()
    persp_lim = cfg.camera_perspective / math.sqrt(w * w + h * h)
    coeffs = [
        (w / 2.0, velocity[0], accel[0]),
        (h / 2.0, velocity[1], accel[1]),
        (rng.uniform(-0.1, 0.1), rng.uniform(-1, 1) * cfg.camera_rotation, 0.0),
        (rng.uniform(0.0, 0.2), rng.uniform(-1, 1) * cfg.camera_zoom, 0.0),
        (0.0, 0.0, 0.0),
        (0.0, 0.0, 0.0),
        _bounded_linear(rng, persp_lim, half),
        _bounded_linear(rng, persp_lim, half),
    ]
    return Motion(tuple(_floats(c) for c in coeffs), shake)


def _sample_planes(rng: np.random.Generator, cfg: SceneConfig, assets: Assets,
                   camera: Motion) -> tuple[BackgroundPlane, ...]:
    """cfg.near_planes near planes (the first a ground plane in cfg.ground_prob of scenes, the
    rest patches), each with a texture of the background source; nearest (largest parallax)
    first."""
    taus = _nominal_taus(cfg.reach)
    count = int(rng.integers(cfg.near_planes[0], cfg.near_planes[1] + 1))
    ground = rng.random() < cfg.ground_prob
    planes = []
    for i in range(count):
        appearance = _sample_appearance(rng, cfg, assets.background_source, cfg.jitter[1])
        if i == 0 and ground:
            planes.append(depth.ground_plane(rng, cfg, camera, appearance, taus))
        else:
            planes.append(depth.patch_plane(rng, cfg, camera, appearance))
    return tuple(sorted(planes, key=lambda plane: -plane.parallax))


def _sample_occluder(rng: np.random.Generator, cfg: SceneConfig, assets: Assets,
                     camera: Motion) -> Occluder:
    """One or two bars (poles, branches) or blobs placed where the camera looks at tau = 0, on
    their own depth plane cfg.occluder_parallax times nearer than the far plane."""
    h, w = cfg.height, cfg.width
    polygons = []
    for _ in range(int(rng.integers(1, 3))):
        centre = rng.uniform([-0.4 * w, -0.4 * h], [0.4 * w, 0.4 * h])
        if rng.random() < 0.6:
            length, width = rng.uniform(0.8, 2.0) * h, rng.uniform(0.05, 0.14) * h
            a = rng.uniform(0, np.pi)
            cos, sin = math.cos(a), math.sin(a)
            along, across = np.array([cos, sin]), np.array([-sin, cos])
            corners = [(sl * length / 2) * along + (sw * width / 2) * across
                       for sl, sw in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
            verts = np.array(corners)
        else:
            verts = sprites.sample_polygon(rng, (4, 8), rng.uniform(0.1, 0.25) * h, 0.25, False)
        polygons.append(_pairs(verts + centre))
    appearance = _sample_appearance(rng, cfg, assets.textures, cfg.jitter[1])
    motion = depth.parallax_motion(camera, float(rng.uniform(*cfg.occluder_parallax)))
    return Occluder(tuple(polygons), appearance, motion)


def _nominal_taus(reach: float) -> np.ndarray:
    """(N,) times -reach, -reach + 1, ... up to and with reach: one per nominal frame."""
    taus = np.arange(int(math.floor(2.0 * reach)) + 1) - reach
    return taus if taus[-1] == reach else np.append(taus, reach)


def _bounded_linear(rng: np.random.Generator, limit: float, half: float) -> Triple:
    """A linear trajectory staying within [-limit, limit] over tau in [-half, half]."""
    start, end = rng.uniform(-limit, limit, 2)
    return (float((start + end) / 2), float((end - start) / (2 * half)), 0.0)


def _floats(a) -> tuple[float, ...]:
    return tuple(float(x) for x in np.asarray(a).ravel())


def _pairs(a) -> tuple[Pair, ...]:
    return tuple((float(x), float(y)) for x, y in np.asarray(a, dtype=np.float64))
