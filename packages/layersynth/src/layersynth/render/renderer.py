"""Render a sampled scene: RGB, amodal and modal masks, occluder mask and exact optical flow.

`render(params, assets)` plans every layer, then composes the frames:

- each layer gets its forward map per extended frame (`exact_flow`: F_e = H_e o D_e for objects,
  its plane's H_e for the background planes and the occluders), which is also how its exact flow
  is found;
- objects: the sprite mask (`sprites`), its shading (`textures`), the boxes their kernel scans
  and the clearance map that lets it jump over uncovered pixels; the occluders (`occluders`); the
  background: a still texture or one frame of a background video per frame;
- the near background planes (`planes`, parallax), each under its own homography, labelled
  background;
- `composition.compose` then draws them front to back, occluder, the objects (front to back by
  the frame's depth order, `SceneParams.frame_order`: 0 .. K-1 unless the scene's order
  changes), near planes (nearest first), the far background, one numba kernel call per layer
  and frame (`kernels`). Object k keeps amodal channel k and modal label k + 1 at every frame.

A background video (SceneParams.background_video) is one texture per frame under the camera
homography: its own motion is unknown, so the flow there holds the camera motion only (train on
estimated flow for such scenes); such a scene has no near planes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from layersynth.assets.background_video import VideoWindow
from layersynth.assets.sources import Assets
from layersynth.render import exact_flow, kernels, occluders, planes, sprites, textures
from layersynth.render.composition import Canvas, compose
from layersynth.render.exact_flow import NEWTON_MAX_ITER, NEWTON_TOL, ForwardMap
from layersynth.render.sequence import Sequence
from layersynth.scene.params import (
    PARAMS_VERSION,
    Motion,
    ObjectLayer,
    SceneParams,
    video_frames,
)


@dataclass(frozen=True, eq=False)
class _ObjectLayer:
    """An object layer (label = k + 1 for layer k) and what its kernel reads every frame."""

    label: int
    mask: sprites.SpriteMask
    dist: np.ndarray  # (h, w) float64 like mask.sdf: canonical px, <= the distance to the shape
    shading: textures.Shading
    fmap: ForwardMap
    boxes: np.ndarray  # (E, 4) int64 (y0, y1, x0, x1), half-open, clipped to the frame

    def draw(self, t: int, canvas: Canvas) -> None:
        e, m = t + self.fmap.margin, self.mask
        kernels.object_frame(
            *self.fmap.homographies(e), self.fmap.points, *self.fmap.splines(e), self.boxes[e],
            m.sdf, self.dist, m.scale, m.origin[0], m.origin[1], *self.shading.at(e),
            self.label, canvas.shade_on, canvas.claimed, canvas.amodal[self.label - 1, t],
            canvas.modal[t], *canvas.colour_and_flow(t), NEWTON_TOL, NEWTON_MAX_ITER)


@dataclass(frozen=True, eq=False)
class _ArticulatedLayer:
    """An articulated object: its parts' sub-layers (one label), drawn nearest part first, so a
    pixel takes the colour and flow of the nearest part covering it (`render.articulated`)."""

    parts: tuple[_ObjectLayer, ...]

    @property
    def boxes(self) -> np.ndarray:
        """(E, 4) the box holding every part's box, per extended frame."""
        b = np.stack([p.boxes for p in self.parts])
        return np.concatenate([b[..., 0::2].min(0), b[..., 1::2].max(0)], -1)[..., [0, 2, 1, 3]]

    def draw(self, t: int, canvas: Canvas) -> None:
        for part in self.parts:
            part.draw(t, canvas)


@dataclass(frozen=True, eq=False)
class _DepthOrdered:
    """The object layers (channel k = layers[k]), drawn at kept frame t front to back by that
    frame's ranks order[t] (T, K): the claim buffer then gives each pixel to the nearest."""

    layers: tuple
    order: np.ndarray  # (T, K) int16, 0 = front-most

    def draw(self, t: int, canvas: Canvas) -> None:
        for k in np.argsort(self.order[t], kind="stable"):
            self.layers[k].draw(t, canvas)


@dataclass(frozen=True, eq=False)
class _BackgroundLayer:
    """The background: every pixel no nearer layer claimed (drawn only with colour and flow)."""

    shading: textures.Shading
    camera: ForwardMap

    def draw(self, t: int, canvas: Canvas) -> None:
        e = t + self.camera.margin
        colour, trans, flow = canvas.colour_and_flow(t)
        kernels.background_frame(*self.camera.homographies(e), *self.shading.at(e),
                                 canvas.claimed, colour, trans, canvas.rgb[t], flow)


def render(params: SceneParams, assets: Assets) -> Sequence:
    """Render the T kept frames of `params` (pure and deterministic).

    See layersynth.render.sequence."""
    out = _render(params, assets, shade_on=True)
    return Sequence(rgb=out.rgb, amodal=out.amodal, modal=out.modal, occluder=out.occluder,
                    flow_gt=out.flow, order=params.frame_order(), gaps=params.gaps)


def render_masks(params: SceneParams, assets: Assets) -> tuple[np.ndarray, np.ndarray]:
    """Only the masks, as `render` makes them: amodal (K, T, H, W) bool, modal (T, H, W) uint8."""
    out = _render(params, assets, shade_on=False)
    return out.amodal, out.modal


def _render(params: SceneParams, assets: Assets, shade_on: bool) -> Canvas:
    if params.version != PARAMS_VERSION:
        raise ValueError(f"SceneParams version {params.version}; this renderer reads "
                         f"{PARAMS_VERSION}")
    canvas = Canvas.empty(params.frames, params.height, params.width, len(params.objects),
                          shade_on=shade_on, flows=2 * len(params.gaps))
    objects = [_plan_object(o, params, assets, label)
               for label, o in enumerate(params.objects, start=1)]
    camera = _camera(params.camera, params)
    background, near = None, []
    if shade_on:  # masks only: the background planes would only fill colour and flow
        background = _BackgroundLayer(_background_shading(params, assets), camera)
        near = [planes.plan_plane(p, assets.background_source.get(p.appearance.texture), params)
                for p in params.planes]
    occluder = _plan_occluder(params, assets, camera)
    ordered = _DepthOrdered(tuple(objects), params.frame_order())
    layers = [occluder, ordered, *near, background]  # nearest first (see `composition`)
    return compose([layer for layer in layers if layer is not None], canvas)


# bench/render.py times the planning through these three names (_camera, _plan_occluder,
# _plan_object): keep them, and call them through this module.
def _camera(motion: Motion, params: SceneParams) -> ForwardMap:
    return exact_flow.camera_map(motion, params)


def _plan_occluder(params: SceneParams, assets: Assets, camera: ForwardMap):
    """The occluder layer on its own plane (the camera's when it has none), or None."""
    if params.occluder is None:
        return None
    texture = assets.textures.get(params.occluder.appearance.texture)
    if params.occluder.motion is not None:
        camera = exact_flow.camera_map(params.occluder.motion, params)
    return occluders.plan_occluder(params.occluder, texture, camera, params.clock(params.taus))


def _plan_object(layer: ObjectLayer, params: SceneParams, assets: Assets,
                 label: int) -> _ObjectLayer | _ArticulatedLayer:
    sprite = layer.sprite
    tex = assets.textures.get(layer.appearance.texture)
    shading = textures.shading(layer.appearance, tex, params.clock(params.taus))
    if sprite.kind == "articulated":
        maps = exact_flow.part_maps(layer, params)
        return _ArticulatedLayer(tuple(
            _sub_layer(label, sprites.polygon_mask([np.asarray(part.vertices, np.float64)]),
                       shading, fmap, params) for part, fmap in zip(sprite.parts, maps,
                                                                   strict=True)))
    if sprite.kind == "polygon":
        mask = sprites.polygon_mask([np.asarray(sprite.vertices, dtype=np.float64)])
    elif sprite.kind == "silhouette":
        fmap = exact_flow.object_map(layer, params)
        mask = sprites.silhouette_mask(assets.silhouettes.get(sprite.silhouette), sprite.radius,
                                       sprites.SILHOUETTE_OPENING / _smallest_scale(fmap))
        return _sub_layer(label, mask, shading, fmap, params)
    else:
        raise ValueError(f"sprite kind {sprite.kind!r}: expected 'polygon', 'silhouette' or "
                         f"'articulated'")
    return _sub_layer(label, mask, shading, exact_flow.object_map(layer, params), params)


def _smallest_scale(fmap: ForwardMap) -> float:
    """The smallest image px per canonical px of H_e at the canonical origin over the clip
    (sqrt |det| of its Jacobian there; elementwise IEEE arithmetic, the same bits everywhere)."""
    h = fmap.hom
    w = h[:, 2, 2]
    a, b = h[:, 0, 0] - h[:, 0, 2] * h[:, 2, 0] / w, h[:, 0, 1] - h[:, 0, 2] * h[:, 2, 1] / w
    c, d = h[:, 1, 0] - h[:, 1, 2] * h[:, 2, 0] / w, h[:, 1, 1] - h[:, 1, 2] * h[:, 2, 1] / w
    return float(np.sqrt(np.abs(a * d - b * c) / (w * w)).min())


def _sub_layer(label: int, mask: sprites.SpriteMask, shading: textures.Shading, fmap: ForwardMap,
               params: SceneParams) -> _ObjectLayer:
    boxes = exact_flow.sprite_boxes(fmap, mask, params.height, params.width)
    return _ObjectLayer(label, mask, _clearance(mask), shading, fmap, boxes)


def _clearance(mask: sprites.SpriteMask) -> np.ndarray:
    """A lower bound, in canonical pixels, on the distance from any point nearest to each mask
    pixel to a point the shape covers: the negated signed distance at the pixel, less 2.5 mask
    pixels (half a pixel's diagonal to the point, a whole one for the bilinear read that covers
    it). The kernel's jump adds one image pixel for the edge coverage outside the shape."""
    return np.maximum(-mask.sdf - 2.5 / mask.scale, 0.0)


def _background_shading(params: SceneParams, assets: Assets) -> textures.Shading:
    """The still background texture, or a video's frames (E, H, W, 3) placed so that canonical 0
    (the camera's centre) is the frame centre; the camera still moves them. A video has one frame
    per nominal frame: each extended frame shows the one nearest its time (at a time step below 1
    a frame is shown on several frames in a row)."""
    a = params.background
    clock = params.clock(params.taus)
    if params.background_video is None:
        return textures.shading(a, assets.background_source.get(a.texture), clock)
    if assets.videos is None:
        raise ValueError("this scene has a background video but the assets have no videos")
    h, w, count = params.height, params.width, video_frames(params.duration)
    window = _video_window(assets.videos, params.background_video)
    clip = assets.videos.frames(window, count, (h, w))
    nearest = np.clip(np.floor(clock + 0.5), 0, count - 1).astype(np.int64)
    still = textures.shading(a, clip[0], clock)
    aff = np.array([[1.0, 0.0, (w - 1) / 2.0], [0.0, 1.0, (h - 1) / 2.0]])
    return textures.Shading(sprites.readonly(clip[nearest]), aff, still.gains, still.bias)


def _video_window(videos, d: dict):
    if hasattr(videos, "window_from_dict"):
        return videos.window_from_dict(d)
    return VideoWindow.from_dict(d)
