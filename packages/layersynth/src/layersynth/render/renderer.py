"""Render a sampled scene: RGB, amodal and modal masks, occluder mask and exact optical flow.

Every layer has a forward map per extended frame e, F_e = H_e o D_e from canonical coordinates to
the image (H_e the homography, D_e the thin-plate spline; background and occluders: F_e = H_e).
For each pixel x a layer may cover (objects: only inside the bounding box of F_e(sprite)) the
kernels find the canonical point c = F_e^-1(x) (closed-form homography inverse, then Newton steps
on the TPS warm-started from the previous pixel), read the sprite mask and texture at c, and keep
c for the flow: F_{e+1}(c) - x (gap +1) and F_{e-1}(c) - x (gap -1), exact up to the Newton
tolerance. Layers are composed front to back (eq. (2) of the paper): the occluder layer first,
then objects 0..K-1, then the background fills what is left; colour and flow are computed only
where a layer is visible, masks wherever it covers.

A background video (SceneParams.background_video) is one texture per frame under the camera
homography: its own motion is unknown, so the flow there holds the camera motion only (train on
estimated flow for such scenes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import distance_transform_edt

from layersynth.assets.sources import Assets
from layersynth.motion import detmath, homography, tps
from layersynth.render import kernels, sprites, textures
from layersynth.render.sequence import Sequence
from layersynth.scene.params import PARAMS_VERSION, Appearance, Motion, ObjectLayer, SceneParams

NEWTON_TOL = 0.02  # last Newton step (canonical px) taken unchecked; residual after it ~1e-5 px
NEWTON_MAX_ITER = 12
_BOX_SAMPLES = 24  # points per edge of the sprite rectangle used to bound F_e(sprite)
_BOX_PAD = 2  # pixels added around that bound (the edges between samples bulge a little)


@dataclass(frozen=True, eq=False)
class _Shading:
    """A layer's texture, canonical -> texture affine map, per-frame gains (T + 2, 3), bias."""

    tex: np.ndarray
    aff: np.ndarray
    gains: np.ndarray
    bias: np.ndarray


@dataclass(frozen=True, eq=False)
class _ObjectPlan:
    mask: sprites.SpriteMask
    dist: np.ndarray  # (h, w) float64 like mask.mask: canonical px to the nearest covered pixel
    shading: _Shading
    points: np.ndarray  # (n, 2) TPS control points
    coefs: np.ndarray  # (T + 2, n + 3, 2) TPS coefficients per extended frame
    hom: np.ndarray  # (T + 2, 3, 3)
    hom_inv: np.ndarray  # (T + 2, 3, 3)
    boxes: np.ndarray  # (T + 2, 4) int64 (y0, y1, x0, x1), half-open, clipped to the frame


def render(params: SceneParams, assets: Assets) -> Sequence:
    """Render the T kept frames of `params` (pure and deterministic).

    See layersynth.render.sequence."""
    out = _render(params, assets, shade_on=True)
    k = len(params.objects)
    return Sequence(rgb=out["rgb"], amodal=out["amodal"], modal=out["modal"],
                    occluder=out["occluder"], flow_gt=out["flow"],
                    order=np.arange(k, dtype=np.int16))


def render_masks(params: SceneParams, assets: Assets) -> tuple[np.ndarray, np.ndarray]:
    """Only the masks, as `render` makes them: amodal (K, T, H, W) bool, modal (T, H, W) uint8."""
    out = _render(params, assets, shade_on=False)
    return out["amodal"], out["modal"]


def _render(params: SceneParams, assets: Assets, shade_on: bool) -> dict[str, np.ndarray]:
    if params.version != PARAMS_VERSION:
        raise ValueError(f"SceneParams version {params.version}; this renderer reads "
                         f"{PARAMS_VERSION}")
    t_, h, w, k = params.frames, params.height, params.width, len(params.objects)
    big = (t_, h, w) if shade_on else (1, 1, 1)  # masks only: colour/flow buffers are dummies
    out = {
        "rgb": np.zeros((*big, 3), np.uint8),
        "amodal": np.zeros((k, t_, h, w), bool),
        "modal": np.zeros((t_, h, w), np.uint8),
        "occluder": np.zeros((t_, h, w), bool),
        "flow": np.zeros((big[0], 2, *big[1:], 2), np.float32),
    }
    plans = [_plan_object(o, params, assets) for o in params.objects]
    camera = _camera(params.camera, params)
    bg = _background_shading(params, assets) if shade_on else None
    occ = _plan_occluder(params, assets)
    claimed = np.zeros((h, w), bool)
    for t in range(t_):
        claimed[:] = False
        _render_frame(t, plans, camera, bg, occ, out, claimed, shade_on)
    return out


def _render_frame(t, plans, camera, bg, occ, out, claimed, shade_on) -> None:
    e = t + 1
    ts = t if shade_on else 0
    rgb, flow = out["rgb"][ts], out["flow"][ts]
    hom, hom_inv = camera
    cam = (hom_inv[e], hom[e + 1], hom[e - 1])
    if occ is not None:
        mask, shading = occ
        kernels.flat_frame(*cam, mask.mask, mask.scale, *mask.origin, True,
                           *_frame_shading(shading, e), shade_on, claimed, out["occluder"][t],
                           rgb, flow)
    for label, plan in enumerate(plans, start=1):
        m = plan.mask
        kernels.object_frame(
            plan.hom_inv[e], plan.hom[e + 1], plan.hom[e - 1], plan.points, plan.coefs[e],
            plan.coefs[e + 1], plan.coefs[e - 1], plan.boxes[e], m.mask, plan.dist, m.scale,
            m.origin[0], m.origin[1], *_frame_shading(plan.shading, e), label, shade_on, claimed,
            out["amodal"][label - 1, t], out["modal"][t], rgb, flow, NEWTON_TOL, NEWTON_MAX_ITER)
    if shade_on:
        dummy = sprites.readonly(np.zeros((1, 1), bool))
        kernels.flat_frame(*cam, dummy, 1.0, 0.0, 0.0, False, *_frame_shading(bg, e), True,
                           claimed, out["occluder"][t], rgb, flow)


def _frame_shading(s: _Shading, e: int) -> tuple:
    tex = s.tex[e] if s.tex.ndim == 4 else s.tex  # a clip: one texture per extended frame
    return tex, s.aff, s.gains[e], s.bias


def _background_shading(params: SceneParams, assets: Assets) -> _Shading:
    """The still background texture, or the clip's frames (T + 2, H, W, 3) placed so that
    canonical 0 (the camera's centre) is the frame centre; the camera still moves them."""
    a = params.background
    if params.background_video is None:
        return _shading(a, assets.background_source.get(a.texture), params)
    if assets.videos is None:
        raise ValueError("this scene has a background video but the assets have no videos")
    h, w, count = params.height, params.width, params.frames + 2
    window = _video_window(assets.videos, params.background_video)
    clip = sprites.readonly(assets.videos.frames(window, count, (h, w)))
    still = _shading(a, clip[0], params)
    aff = np.array([[1.0, 0.0, (w - 1) / 2.0], [0.0, 1.0, (h - 1) / 2.0]])
    return _Shading(clip, aff, still.gains, still.bias)


def _video_window(videos, d: dict):
    if hasattr(videos, "window_from_dict"):
        return videos.window_from_dict(d)
    from layersynth.assets.background_video import VideoWindow

    return VideoWindow.from_dict(d)


def _shading(a: Appearance, tex: np.ndarray, params: SceneParams) -> _Shading:
    e = np.arange(params.frames + 2)
    gains = textures.frame_gains(a.gain, a.jitter_amp, a.jitter_freq, a.jitter_phase, e)
    return _Shading(sprites.readonly(tex), textures.texture_affine(a.offset, a.scale, a.flip),
                    np.ascontiguousarray(gains), np.asarray(a.bias, dtype=np.float64))


def _camera(motion: Motion, params: SceneParams) -> tuple[np.ndarray, np.ndarray]:
    hom = homography.matrices(np.asarray(motion.coeffs), params.taus)
    return hom, homography.inverse(hom)


def _plan_occluder(params: SceneParams, assets: Assets):
    if params.occluder is None:
        return None
    polys = [np.asarray(p, dtype=np.float64) for p in params.occluder.polygons]
    mask = sprites.polygon_mask(polys, scale=1.0)
    a = params.occluder.appearance
    return mask, _shading(a, assets.textures.get(a.texture), params)


def _plan_object(layer: ObjectLayer, params: SceneParams, assets: Assets) -> _ObjectPlan:
    sprite = layer.sprite
    if sprite.kind == "polygon":
        mask = sprites.polygon_mask([np.asarray(sprite.vertices, dtype=np.float64)])
    elif sprite.kind == "silhouette":
        mask = sprites.silhouette_mask(assets.silhouettes.get(sprite.silhouette), sprite.radius)
    else:
        raise ValueError(f"sprite kind {sprite.kind!r}: expected 'polygon' or 'silhouette'")
    d = layer.deformation
    points = np.asarray(d.points, dtype=np.float64)
    e = np.arange(params.frames + 2, dtype=np.float64)[:, None, None]
    phase = np.asarray(d.freq)[None, :, None] * e + np.asarray(d.phase)[None, :, None]
    targets = points + np.asarray(d.amplitude) * detmath.sin(phase)  # (T + 2, n, 2)
    coefs = np.ascontiguousarray(tps.fit(points, targets))
    hom = homography.matrices(np.asarray(layer.motion.coeffs), params.taus)
    tex = assets.textures.get(layer.appearance.texture)
    boxes = _boxes(mask, points, coefs, hom, params)
    return _ObjectPlan(mask, _clearance(mask), _shading(layer.appearance, tex, params), points,
                       coefs, hom, homography.inverse(hom), boxes)


def _clearance(mask: sprites.SpriteMask) -> np.ndarray:
    """A lower bound, in canonical pixels, on the distance from any point of each mask pixel to a
    covered point (edt between pixel centres, less 1.5 pixels for the nearest-pixel rounding)."""
    if not mask.mask.any():
        return np.full(mask.mask.shape, 1e9)
    edt = distance_transform_edt(~mask.mask)
    return np.maximum(edt - 1.5, 0.0) / mask.scale


def _boxes(mask, points, coefs, hom, params) -> np.ndarray:
    """(T + 2, 4) pixel boxes (y0, y1, x0, x1) holding F_e of the sprite's canonical rectangle."""
    x0, x1, y0, y1 = mask.extent()
    s = np.linspace(0.0, 1.0, _BOX_SAMPLES)
    edge = np.concatenate([
        np.stack([x0 + (x1 - x0) * s, np.full_like(s, y0)], 1),
        np.stack([x0 + (x1 - x0) * s, np.full_like(s, y1)], 1),
        np.stack([np.full_like(s, x0), y0 + (y1 - y0) * s], 1),
        np.stack([np.full_like(s, x1), y0 + (y1 - y0) * s], 1)])  # (m, 2)
    n = len(points)
    u = tps.kernel(((edge[:, None, :] - points) ** 2).sum(-1))  # (m, n), the same every frame
    warped = (detmath.matmul(u, coefs[:, :n]) + coefs[:, n:n + 1]
              + edge[:, :1] * coefs[:, n + 1:n + 2] + edge[:, 1:] * coefs[:, n + 2:n + 3])
    wgt = warped[..., 0] * hom[:, 2:3, 0] + warped[..., 1] * hom[:, 2:3, 1] + hom[:, 2:3, 2]
    px = (warped[..., 0] * hom[:, 0:1, 0] + warped[..., 1] * hom[:, 0:1, 1] + hom[:, 0:1, 2]) / wgt
    py = (warped[..., 0] * hom[:, 1:2, 0] + warped[..., 1] * hom[:, 1:2, 1] + hom[:, 1:2, 2]) / wgt
    h, w = params.height, params.width
    boxes = np.stack([np.floor(py.min(1)) - _BOX_PAD, np.ceil(py.max(1)) + _BOX_PAD + 1,
                      np.floor(px.min(1)) - _BOX_PAD, np.ceil(px.max(1)) + _BOX_PAD + 1], 1)
    limits = np.array([h, h, w, w])
    return np.clip(boxes, 0, limits).astype(np.int64)
