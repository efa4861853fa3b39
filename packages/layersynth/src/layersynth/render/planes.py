"""Near background planes: parallax, drawn like an occluder layer that is labelled background.

A scene may hold near planes (`SceneParams.planes`, drawn by `scene.sampling` through
`scene.depth`): a ground plane below a horizon or planar patches, each a few polygons in its own
canonical coordinates under its own homography trajectory H_e, with a texture of the background
source. The far plane (`renderer._BackgroundLayer`) moves under the camera's H_e; a near plane's
translation is `parallax` times the camera's, so the background flow is not one homography.

Planning (`plan_plane`) rasterises the polygons once (one mask pixel per canonical pixel, as the
occluders) and bounds, per extended frame, the pixel box holding H_e of the polygons. Drawing
(`PlaneLayer.draw`) comes after the objects and before the far plane (`composition`), nearest plane
first: `kernels.flat_frame` with the mask test on claims each unclaimed pixel x of the box whose
canonical point c = H_e^-1 x the polygons hold (at x's centre) and writes the plane's exact flow
H_{e+-g}(c) - x there, for every gap g; its colour goes, weighted by area coverage, to every pixel
of the box the polygons cover in part and no nearer layer covers fully (`composition`): a near
plane's outline is anti-aliased like an object's. Its occluder mark goes to a scratch buffer:
modal stays 0 and the occluder mask untouched (the plane is background).

The box is passed as views of the frame's buffers with the homographies shifted by the box corner
(x0, y0): H^-1 T(x0, y0) on the way in and T(-x0, -y0) H_{e+-g} on the way out, so the kernel's
local pixel (j, i) is frame pixel (j + x0, i + y0) and the flow it writes is that pixel's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from layersynth.render import exact_flow, kernels, sprites, textures
from layersynth.render.composition import Canvas
from layersynth.render.exact_flow import ForwardMap
from layersynth.scene.params import BackgroundPlane, SceneParams

MASK_SCALE = 1.0  # mask pixels per canonical pixel (a plane's canonical px ~ image px)
_BOX_PAD = 2  # pixels around the mapped polygon vertices (coverage reaches ~0.7 px beyond them)


@dataclass(frozen=True, eq=False)
class PlaneLayer:
    """A near plane's mask, shading and map, its (E, 4) pixel boxes (y0, y1, x0, x1) and the
    scratch buffer its kernel marks instead of the occluder mask."""

    mask: sprites.SpriteMask
    shading: textures.Shading
    fmap: ForwardMap
    boxes: np.ndarray
    scratch: np.ndarray  # (H, W) bool, never read

    def draw(self, t: int, canvas: Canvas) -> None:
        """Kept frame t: claim, colour and give the plane's flow to the unclaimed pixels of its box
        whose centre the mask covers."""
        e, m = t + self.fmap.margin, self.mask
        y0, y1, x0, x1 = (int(v) for v in self.boxes[e])
        if y0 >= y1 or x0 >= x1:
            return
        hinv, h_to = self.fmap.homographies(e)
        colour, trans, flow = canvas.colour_and_flow(t)
        if canvas.shade_on:
            colour, trans = colour[y0:y1, x0:x1], trans[y0:y1, x0:x1]
            flow = flow[:, y0:y1, x0:x1]
        kernels.flat_frame(_from_box(hinv, x0, y0), _to_box(h_to, x0, y0), m.sdf, m.scale,
                           *m.origin, *self.shading.at(e), canvas.shade_on,
                           canvas.claimed[y0:y1, x0:x1], self.scratch[y0:y1, x0:x1], colour,
                           trans, flow)


def plan_plane(plane: BackgroundPlane, texture: np.ndarray, params: SceneParams) -> PlaneLayer:
    """The layer of `plane` over `texture` (h, w, 3) uint8 (from the background source)."""
    polygons = [np.asarray(p, dtype=np.float64) for p in plane.polygons]
    mask = sprites.polygon_mask(polygons, scale=MASK_SCALE)
    fmap = exact_flow.camera_map(plane.motion, params)
    boxes = plane_boxes(fmap, np.concatenate(polygons), params.height, params.width)
    clock = params.clock(params.taus)
    return PlaneLayer(mask, textures.shading(plane.appearance, texture, clock), fmap, boxes,
                      np.zeros((params.height, params.width), bool))


def plane_boxes(fmap: ForwardMap, vertices: np.ndarray, height: int, width: int) -> np.ndarray:
    """(E, 4) int64 pixel boxes (y0, y1, x0, x1), half-open, clipped to the frame, holding H_e of
    the polygons (n, 2) canonical vertices: the only pixels a plane's kernel visits. A homography
    keeps straight lines straight, so the box of the vertices holds the polygons wherever their
    projective divisor keeps its sign (w > 0 over the frame: the planes' tilt is mild)."""
    hom = fmap.hom  # (E, 3, 3)
    x, y = vertices[:, 0], vertices[:, 1]
    wgt = x * hom[:, 2:3, 0] + y * hom[:, 2:3, 1] + hom[:, 2:3, 2]
    px = (x * hom[:, 0:1, 0] + y * hom[:, 0:1, 1] + hom[:, 0:1, 2]) / wgt
    py = (x * hom[:, 1:2, 0] + y * hom[:, 1:2, 1] + hom[:, 1:2, 2]) / wgt
    boxes = np.stack([np.floor(py.min(1)) - _BOX_PAD, np.ceil(py.max(1)) + _BOX_PAD + 1,
                      np.floor(px.min(1)) - _BOX_PAD, np.ceil(px.max(1)) + _BOX_PAD + 1], 1)
    limits = np.array([height, height, width, width])
    return np.clip(boxes, 0, limits).astype(np.int64)


def _from_box(hinv: np.ndarray, x0: int, y0: int) -> np.ndarray:
    """H^-1 T(x0, y0), written out (elementwise IEEE arithmetic: the same bits everywhere)."""
    out = hinv.copy()
    out[:, 2] = hinv[:, 0] * x0 + hinv[:, 1] * y0 + hinv[:, 2]
    return out


def _to_box(h: np.ndarray, x0: int, y0: int) -> np.ndarray:
    """T(-x0, -y0) H for each of a stack h (N, 3, 3), written out."""
    out = h.copy()
    out[:, 0] = h[:, 0] - x0 * h[:, 2]
    out[:, 1] = h[:, 1] - y0 * h[:, 2]
    return out
