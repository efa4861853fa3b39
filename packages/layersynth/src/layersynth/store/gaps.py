"""Flow gaps: the frame gaps whose +- flows a flow array holds, and picking one gap's flow.

A flow array of gaps (g0, g1, ...) is (T, G, H, W, 2) with G = 2 len(gaps): index 2i holds
+gaps[i] (frame t -> t + gaps[i]), index 2i + 1 holds -gaps[i] (t -> t - gaps[i]). With the
default gaps (1,), index 0 = +1 and 1 = -1, as in shard schema version 1. Code that wants one
gap's flow asks `gap_index` / `flow_for` instead of writing 2i or 2i + 1 itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from numbers import Integral

import numpy as np

DEFAULT_GAPS = (1,)


def check_gaps(gaps: Iterable) -> tuple[int, ...]:
    """`gaps` as a tuple of ints; ValueError unless it is a non-empty list of distinct positive
    integers (the order is kept: it is the order of the flow's gap axis)."""
    try:
        values = list(gaps)
    except TypeError:
        raise ValueError(f"gaps must be a list of positive integers, got {gaps!r}") from None
    if not values or not all(isinstance(g, Integral) and not isinstance(g, bool)
                             for g in values):
        raise ValueError(f"gaps must be a non-empty list of positive integers, got {values!r}")
    out = tuple(int(g) for g in values)
    if min(out) < 1 or len(set(out)) != len(out):
        raise ValueError(f"gaps must be distinct positive integers, got {list(out)}")
    return out


def gap_index(gaps: tuple[int, ...], gap: int) -> int:
    """Index along a flow's gap axis of the signed `gap` (+g: t -> t+g, -g: t -> t-g);
    ValueError naming the stored gaps if it is not one of them."""
    g = abs(int(gap))
    if gap == 0 or g not in gaps:
        raise ValueError(f"gap {int(gap):+d} is not stored (gaps {label(gaps)})")
    return 2 * gaps.index(g) + (gap < 0)


def flow_for(flow: np.ndarray, gaps: tuple[int, ...], gap: int) -> np.ndarray:
    """The (T, H, W, 2) flow at the signed `gap` of a (T, 2 len(gaps), H, W, 2) flow array."""
    check_axis(flow, gaps)
    return flow[:, gap_index(gaps, gap)]


def select(flow: np.ndarray, gaps: tuple[int, ...], wanted: tuple[int, ...]) -> np.ndarray:
    """The flow of gaps `wanted` (in that order) out of a flow of `gaps`:
    (T, 2 len(gaps), H, W, 2) -> (T, 2 len(wanted), H, W, 2)."""
    check_axis(flow, gaps)
    if tuple(wanted) == tuple(gaps):
        return flow
    index = [gap_index(gaps, s * g) for g in wanted for s in (1, -1)]
    return flow[:, index]


def check_axis(flow: np.ndarray, gaps: tuple[int, ...]) -> None:
    if flow.ndim < 2 or flow.shape[1] != 2 * len(gaps):
        raise ValueError(f"a flow of gaps {label(gaps)} has {2 * len(gaps)} gap maps on axis 1, "
                         f"this one has shape {flow.shape}")


def label(gaps: tuple[int, ...]) -> str:
    """"+-1, +-2": the gaps as the card, inspect and messages print them."""
    return ", ".join(f"+-{g}" for g in gaps)


def layout(gaps: tuple[int, ...]) -> str:
    """"0 = +1, 1 = -1, 2 = +2, 3 = -2": what each index of the gap axis holds."""
    return ", ".join(f"{2 * i + j} = {'+-'[j]}{g}" for i, g in enumerate(gaps) for j in (0, 1))


def encode_attr(gaps: tuple[int, ...]) -> np.ndarray:
    """The `gaps` attribute as stored (int64, little-endian: the same bytes on every machine)."""
    return np.asarray(check_gaps(gaps), dtype="<i8")


def decode_attr(value) -> tuple[int, ...]:
    """A stored `gaps` attribute back to a tuple; ValueError if it is not one a writer made."""
    arr = np.asarray(value)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise ValueError(f"expected a 1-D integer array, got {arr.dtype} {arr.shape}")
    return check_gaps(arr.tolist())
