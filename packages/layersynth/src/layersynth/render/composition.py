"""Front-to-back composition of layers (eq. (2) of the paper), as the renderer does it.

The renderer composes each frame in one pass, nearest layer first. Masks and flow follow the
pixel centre; colour follows the pixel's area.

Masks stay binary and are defined at pixel centres: a layer covers pixel x when its shape holds
the canonical point of x's centre (signed distance sd > 0, `sprites.SpriteMask`). A claim buffer
`Canvas.claimed` (H, W) bool, clear at the start of each frame, gives each pixel to the first
layer that covers its centre. `compose` runs the layers in this order:

1. the occluder layer, if any (`occluders`): claims the pixels it covers, marks them in the
   occluder mask; their modal label stays 0 (occluders count as background);
2. the object layers, front to back by the frame's depth order (0 .. K-1 unless the scene's
   order changes: the renderer's `_DepthOrdered` layer draws them by SceneParams.frame_order):
   amodal[k] wherever object k covers a pixel, claimed or not; on the unclaimed ones it claims
   them and sets modal = k + 1;
3. the near background planes, then the far background: every pixel still unclaimed.

Flow is written by the layer that claims the pixel, and only then, so it is computed once per
pixel, for the layer visible at the centre (a frame's flow is the exact flow of that layer,
`exact_flow`).

Colour is anti-aliased by area coverage: a layer covers a fraction a in [0, 1] of a pixel's
square, a = clip(0.5 + d, 0, 1) with d the signed distance of the centre to the layer's outline in
image pixels (the exact area under a locally straight, axis-aligned edge; a > 0.5 exactly where
the centre is covered, so the claim rule above is "a > 0.5"). Front to back, with the
transmittance `Canvas.trans` (H, W) (1 at the start of the frame) and the colour sum
`Canvas.colour` (H, W, 3) float64, a layer of colour c adds trans * a * c and sets
trans *= 1 - a (the first layer to reach a pixel, trans 1, overwrites what the last frame left
there, so the sum needs no clearing); a pixel with trans 0 is done and no further layer visits it
(interior pixels cost what they did before coverage). The background has a = 1 everywhere and is
drawn last: it closes the frame, rounding the colour sum to uint8 into rgb and setting trans back to
1 in the same pass (`kernels.background_frame`; `coverage_colour` in numpy is the test oracle). A
canvas composed without a background keeps rgb 0.
A boundary pixel thus mixes the layers it straddles, while its labels and flow are those of the
layer at its centre.

The claim and coverage tests run per pixel inside the kernels (`kernels.flat_frame`,
`kernels.object_frame`, `kernels.background_frame`); a layer here is anything with
`draw(t, canvas)` that follows the rules above.

The masks this gives equal the paper's blending applied to the amodal masks, `modal_from_amodal`
(the test oracle); `occlusion_fraction` is the hidden share of object area built on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True, eq=False)
class Canvas:
    """The outputs of one render pass and the buffers of the frame being composed.

    rgb (T, H, W, 3) uint8, flow (T, N, H, W, 2) float32 (N = `flows` = 2 len(gaps)), amodal
    (K, T, H, W) bool, modal (T, H, W) uint8, occluder (T, H, W) bool; frame buffers claimed
    (H, W) bool, colour (H, W, 3) float64 and trans (H, W) float64. With shade_on False (masks
    only) rgb, flow, colour and trans are one-pixel dummies the kernels never touch.
    """

    rgb: np.ndarray
    flow: np.ndarray
    amodal: np.ndarray
    modal: np.ndarray
    occluder: np.ndarray
    claimed: np.ndarray
    colour: np.ndarray
    trans: np.ndarray
    shade_on: bool

    @classmethod
    def empty(cls, frames: int, height: int, width: int, objects: int, *,
              shade_on: bool, flows: int = 2) -> Canvas:
        t_, h, w = frames, height, width
        big = (t_, h, w) if shade_on else (1, 1, 1)
        return cls(rgb=np.zeros((*big, 3), np.uint8),
                   flow=np.zeros((big[0], flows, *big[1:], 2), np.float32),
                   amodal=np.zeros((objects, t_, h, w), bool), modal=np.zeros((t_, h, w), np.uint8),
                   occluder=np.zeros((t_, h, w), bool), claimed=np.zeros((h, w), bool),
                   colour=np.zeros((*big[1:], 3)), trans=np.ones(big[1:]), shade_on=shade_on)

    def colour_and_flow(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What a kernel shades frame t into: colour (H, W, 3), trans (H, W) and the (N, H, W, 2)
        flow of frame t (the dummies when masks only)."""
        ts = t if self.shade_on else 0
        return self.colour, self.trans, self.flow[ts]

    def finish_frame(self, t: int) -> None:
        """Ready the claim buffer for the next frame (nothing claimed). The background layer, drawn
        last, has already rounded the colour into rgb[t] and reset the transmittance."""
        self.claimed[:] = False


class Layer(Protocol):
    def draw(self, t: int, canvas: Canvas) -> None:
        """Draw kept frame t onto the canvas, touching only what the rule above allows."""


def compose(layers: Sequence[Layer], canvas: Canvas) -> Canvas:
    """Compose every frame of `canvas` from `layers`, given nearest first (occluder, objects
    0 .. K-1, background); returns the canvas."""
    for t in range(canvas.modal.shape[0]):
        for layer in layers:
            layer.draw(t, canvas)
        canvas.finish_frame(t)
    return canvas


def coverage_colour(colours: np.ndarray, coverage: np.ndarray) -> np.ndarray:
    """Reference front-to-back composition: colours (L, ..., 3) in [0, 255] and coverages (L, ...)
    in [0, 1] of L layers, nearest first, the last usually the background (coverage 1) ->
    (..., 3) uint8, sum over l of a_l c_l prod_{m < l} (1 - a_m), rounded."""
    trans = np.ones(coverage.shape[1:])
    out = np.zeros(colours.shape[1:])
    for c, a in zip(colours, coverage, strict=True):
        out += (trans * a)[..., None] * c
        trans = trans * (1.0 - a)
    return np.clip(out + 0.5, 0.0, 255.0).astype(np.uint8)


def modal_from_amodal(amodal: np.ndarray, occluder: np.ndarray | None = None,
                      order: np.ndarray | None = None) -> np.ndarray:
    """Front-to-back binary blending: amodal (K, T, H, W) bool, an optional occluder (T, H, W)
    bool on top and the depth ranks `order` (K,) or per frame (T, K) (0 = front-most; None:
    arange(K), channel 0 in front) -> modal labels (T, H, W) uint8 (0 background, k + 1 where
    channel k shows).

    M_k = (1 - alpha_k) * A_k with alpha_k = clip(alpha_{k-1} + M_{k-1}, 0, 1), alpha_0 = occluder,
    over the channels in rank order, at each frame.
    """
    k, t, h, w = amodal.shape
    alpha = np.zeros((t, h, w), bool) if occluder is None else occluder.astype(bool)
    ranks = np.broadcast_to(np.arange(k) if order is None else np.asarray(order), (t, k))
    modal = np.zeros((t, h, w), np.uint8)
    for rank in range(k):
        layer = np.argmax(ranks == rank, axis=1)  # (T,) the channel at this rank, per frame
        mask = amodal[layer, np.arange(t)]  # (T, H, W)
        visible = mask & ~alpha
        labels = np.broadcast_to((layer + 1).astype(np.uint8)[:, None, None], (t, h, w))
        modal[visible] = labels[visible]
        alpha = alpha | visible
    return modal


def occlusion_fraction(amodal: np.ndarray, modal: np.ndarray) -> float:
    """Hidden share of the total object area: amodal (K, T, H, W) bool, modal (T, H, W) uint8.

    sum over objects and frames of |amodal_k minus (modal == k + 1)| / sum of |amodal_k|, i.e. the
    fraction of object pixels covered by a nearer object or an occluder; 0.0 with no object area.
    """
    total = int(amodal.sum())
    if total == 0:
        return 0.0
    visible = sum(int(np.count_nonzero(amodal[k] & (modal == k + 1)))
                  for k in range(amodal.shape[0]))
    return float(total - visible) / total
