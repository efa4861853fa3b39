"""Front-to-back composition of layers (eq. (2) of the paper), as the renderer does it.

The renderer composes each frame in one pass, nearest layer first, through a claim buffer
`Canvas.claimed` (H, W) bool, cleared at the start of the frame: a pixel belongs to the first layer
that covers it. `compose` runs the layers in this order:

1. the occluder layer, if any (`occluders`): claims the pixels it covers, marks them in the
   occluder mask; their modal label stays 0 (occluders count as background);
2. the object layers, front to back by the frame's depth order (0 .. K-1 unless the scene's
   order changes: the renderer's `_DepthOrdered` layer draws them by SceneParams.frame_order):
   amodal[k] wherever object k covers a pixel, claimed or not; on the unclaimed ones it claims
   them and sets modal = k + 1;
3. the background: every pixel still unclaimed.

Colour and flow are written by the layer that claims the pixel, and only then, so each is
computed once per pixel, for the visible layer (a frame's flow is the exact flow of the layer
visible there, `exact_flow`). The claim test itself runs per pixel inside the kernels
(`kernels.flat_frame`, `kernels.object_frame`); a layer here is anything with
`draw(t, canvas)` that follows the rule above.

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
    """The outputs of one render pass and the claim buffer of the frame being composed.

    rgb (T, H, W, 3) uint8, flow (T, N, H, W, 2) float32 (N = `flows` = 2 len(gaps)), amodal
    (K, T, H, W) bool, modal (T, H, W) uint8, occluder (T, H, W) bool, claimed (H, W) bool.
    With shade_on False (masks only) rgb and flow are one-pixel dummies the kernels never write.
    """

    rgb: np.ndarray
    flow: np.ndarray
    amodal: np.ndarray
    modal: np.ndarray
    occluder: np.ndarray
    claimed: np.ndarray
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
                   shade_on=shade_on)

    def colour_and_flow(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """The (H, W, 3) rgb and (N, H, W, 2) flow of frame t (the dummies when masks only)."""
        ts = t if self.shade_on else 0
        return self.rgb[ts], self.flow[ts]


class Layer(Protocol):
    def draw(self, t: int, canvas: Canvas) -> None:
        """Draw kept frame t onto the canvas, touching only what the rule above allows."""


def compose(layers: Sequence[Layer], canvas: Canvas) -> Canvas:
    """Compose every frame of `canvas` from `layers`, given nearest first (occluder, objects
    0 .. K-1, background); returns the canvas."""
    for t in range(canvas.modal.shape[0]):
        canvas.claimed[:] = False
        for layer in layers:
            layer.draw(t, canvas)
    return canvas


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
