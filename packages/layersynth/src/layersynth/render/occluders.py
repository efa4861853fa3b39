"""Occluders: polygons on their own depth plane, drawn in front of every object.

A scene may hold one `Occluder` record (`SceneParams.occluder`, drawn by `scene.sampling`): a few
polygons in the canonical coordinates of their plane, an appearance and the plane's trajectory
(`Occluder.motion`, nearer than the far background: `scene.depth.parallax_motion`; None: the
camera's own). Planning (`plan_occluder`) rasterises them once, at one mask pixel per canonical
pixel, and gives them that plane's forward map F_e = H_e (`exact_flow.camera_map`): they move
exactly with their plane, and their flow is the plane's.

Drawing (`OccluderLayer.draw`) is the first layer of every frame (`composition`):
`kernels.flat_frame` maps each pixel x to c = H_e^-1 x and, where the
polygons hold c (their signed distance field, read bilinearly), claims x, marks it in the occluder
mask and writes the plane's flow there; its colour goes, weighted by area coverage, to every pixel
the polygons cover in part (anti-aliased edges, `composition`).

The occluder mask (`Sequence.occluder`, (T, H, W) bool) is stored on its own; modal labels stay
0 under it (occluders count as background), and objects behind it keep their amodal masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from layersynth.render import kernels, sprites, textures
from layersynth.render.composition import Canvas
from layersynth.render.exact_flow import ForwardMap
from layersynth.scene.params import Occluder

MASK_SCALE = 1.0  # mask pixels per canonical pixel (the background's canonical px ~ image px)


@dataclass(frozen=True, eq=False)
class OccluderLayer:
    """The polygons' mask, their shading and the map of the plane they move with."""

    mask: sprites.SpriteMask
    shading: textures.Shading
    camera: ForwardMap

    def draw(self, t: int, canvas: Canvas) -> None:
        """Kept frame t: claim, mark and give the plane's flow to the pixels whose centre the
        polygons cover; colour those they cover in part."""
        e = t + self.camera.margin
        m = self.mask
        kernels.flat_frame(*self.camera.homographies(e), m.sdf, m.scale, *m.origin,
                           *self.shading.at(e), canvas.shade_on, canvas.claimed,
                           canvas.occluder[t], *canvas.colour_and_flow(t))


def plan_occluder(occluder: Occluder, texture: np.ndarray, camera: ForwardMap,
                  clock) -> OccluderLayer:
    """The layer of `occluder` over `texture` (h, w, 3) uint8; `camera` is the map of the
    occluder's plane; `clock` the extended frames' phase-clock times, as `textures.shading`."""
    polygons = [np.asarray(p, dtype=np.float64) for p in occluder.polygons]
    mask = sprites.polygon_mask(polygons, scale=MASK_SCALE)
    return OccluderLayer(mask, textures.shading(occluder.appearance, texture, clock), camera)
