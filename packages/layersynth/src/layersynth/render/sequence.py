"""The rendered sequence: the one record that rendering produces and shards store.

Axis vocabulary: T frames, K object layers, H x W pixels. Conventions (also in docs/shards.md):

- rgb       (T, H, W, 3) uint8.
- amodal    (K, T, H, W) bool, channel k = object k over the whole clip (the k-th nearest at the
            first frame); K is the number of objects of this sequence (no padding here: the
            trainer pads).
- modal     (T, H, W) uint8: 0 background (occluders move with the background and count as
            background), k + 1 where object k is visible (the nearest by that frame's order).
- occluder  (T, H, W) bool: pixels covered by an artificial occluder.
- flow_gt   (T, G, H, W, 2) float32, G = 2 * len(gaps): gap index 2i = +gaps[i] (frame t ->
            t + gaps[i]), 2i + 1 = -gaps[i]; with the default gaps (1,), index 0 = +1 (t -> t+1),
            1 = -1 (t -> t-1); last axis (u, v) in pixels, u along W (x, to the right), v along H
            (y, down).
- order     (T, K) int16: depth rank of each amodal channel at each frame, 0 = front-most
            (arange(K) at every frame unless the scene's order changes, issue 16).
- gaps      tuple of distinct positive ints, the frame gaps whose +- flows flow_gt holds (not an
            array: `arrays()` leaves it out).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ARRAY_SPECS: dict[str, tuple[str, np.dtype]] = {
    "rgb": ("T,H,W,3", np.dtype(np.uint8)),
    "amodal": ("K,T,H,W", np.dtype(bool)),
    "modal": ("T,H,W", np.dtype(np.uint8)),
    "occluder": ("T,H,W", np.dtype(bool)),
    "flow_gt": ("T,G,H,W,2", np.dtype(np.float32)),
    "order": ("T,K", np.dtype(np.int16)),
}


@dataclass(frozen=True, eq=False)
class Sequence:
    """One rendered clip; see the module docstring for shapes and conventions."""

    rgb: np.ndarray
    amodal: np.ndarray
    modal: np.ndarray
    occluder: np.ndarray
    flow_gt: np.ndarray
    order: np.ndarray
    gaps: tuple[int, ...] = (1,)

    def __post_init__(self) -> None:
        check_arrays(self.arrays(), self.gaps)

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays by name, in ARRAY_SPECS order (`gaps` is not one)."""
        return {name: getattr(self, name) for name in ARRAY_SPECS}

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(K, T, H, W)."""
        return self.amodal.shape  # type: ignore[return-value]


def check_arrays(arrays: dict[str, np.ndarray], gaps: tuple[int, ...] = (1,)) -> None:
    """Raise ValueError naming the first array whose dtype or shape breaks the conventions
    (flows hold the +- flows of `gaps`)."""
    k, t, h, w = arrays["amodal"].shape
    sizes = {"K": k, "T": t, "H": h, "W": w, "G": 2 * len(gaps), "2": 2, "3": 3}
    for name, (axes, dtype) in ARRAY_SPECS.items():
        arr = arrays[name]
        want = tuple(sizes[a] for a in axes.split(","))
        if arr.dtype != dtype or arr.shape != want:
            raise ValueError(
                f"{name}: expected {dtype} {want} ({axes}), got {arr.dtype} {arr.shape}"
            )
