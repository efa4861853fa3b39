"""The numba pipeline behind `mipmap.cached`: seamless fold, softening and pyramid in a few passes.

`mipmap.seamless`, `mipmap.soften` and `mipmap.build` are the readable numpy definitions (and the
tests' reference); a texture seen for the first time cost ~1 ms through them (temporaries, strided
copies), ~0.2 ms of every rendered frame in a fresh process. These give the same bytes: the fold's
weights are the same numpy arrays, its per-texel expression is evaluated in the same order (IEEE,
no fast-math, so LLVM neither reorders nor fuses it), the band means are exact integer sums, and
the filters are exact integer arithmetic. Images are (h, w, 3) uint8 C-contiguous, handled as
(h, 3 w) rows; the loops run over whole rows (views taken per row, not per texel) so that LLVM
vectorises them.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, inline="always")
def _mix(kept, cut, wa, wb, rest, mean, out):
    """out (m,) uint8 = rint(kept * wa + cut * wb + mean * rest) clipped to [0, 255], elementwise
    over (m,) rows (`mipmap._fold`'s expression, in its order)."""
    for k in range(out.shape[0]):
        v = float(kept[k]) * wa[k] + float(cut[k]) * wb[k] + mean[k] * rest[k]
        out[k] = np.uint8(min(max(np.rint(v), 0.0), 255.0))


@numba.njit(cache=True)
def _band_mean(a, b):
    """(3,) float64 mean colour of two (r, 3 m) uint8 blocks, from exact integer sums."""
    acc = np.zeros(a.shape[1], np.int64)
    for blk in (a, b):
        for i in range(blk.shape[0]):
            row = blk[i]
            for k in range(row.shape[0]):
                acc[k] += np.int64(row[k])
    sums = acc.reshape(-1, 3).sum(axis=0)
    return sums.astype(np.float64) / float(2 * a.shape[0] * (a.shape[1] // 3))


@numba.njit(cache=True)
def fold_columns(img, side, wa, wb, rest):
    """(h, w, 3) uint8 -> (h, side, 3) uint8: columns [side, w) cross-faded into columns
    [0, w - side) about the two bands' mean colour, as `mipmap._fold` along axis 1 (weights
    wa, wb and rest = 1 - wa - wb, (b,) each, from it)."""
    h, w = img.shape[0], img.shape[1]
    m = 3 * (w - side)
    src = img.reshape(h, 3 * w)
    mean = _band_mean(src[:, :m], src[:, 3 * side:])
    wa3, wb3, rest3 = np.repeat(wa, 3), np.repeat(wb, 3), np.repeat(rest, 3)
    mean3 = np.empty(m)
    for k in range(m):
        mean3[k] = mean[k % 3]
    out = np.empty((h, side, 3), np.uint8)
    dst = out.reshape(h, 3 * side)
    for i in range(h):
        _mix(src[i, :m], src[i, 3 * side:], wa3, wb3, rest3, mean3, dst[i, :m])
        dst[i, m:] = src[i, m:3 * side]
    return out


@numba.njit(cache=True)
def fold_rows(img, side, wa, wb, rest):
    """(h, w, 3) uint8 -> (side, w, 3) uint8: `fold_columns` along axis 0, in place: the result
    is a view of img's first rows, overwritten."""
    h, n = img.shape[0], 3 * img.shape[1]
    b = h - side
    src = img.reshape(h, n)
    mean = _band_mean(src[:b], src[side:])
    mean3 = np.empty(n)
    for k in range(n):
        mean3[k] = mean[k % 3]
    out = img[:side]
    dst = src[:side]
    ones = np.ones(n)
    for k in range(b):
        _mix(src[k], src[side + k], ones * wa[k], ones * wb[k], ones * rest[k], mean3, dst[k])
    return out


@numba.njit(cache=True)
def soften_into(img, data):
    """The wrapped [1 2 1] / 4 binomial filter of (h, w, 3) uint8 `img` into data[:h * w * 3]
    (C order), exact integers rounded half up (`mipmap.soften`)."""
    h, n = img.shape[0], 3 * img.shape[1]
    src = img.reshape(h, n)
    out = data[:h * n].reshape(h, n)
    row = np.empty(n + 6, np.uint16)  # the vertical pass of one row, one texel wrapped each side
    mid = row[3:n + 3]
    for i in range(h):
        a, b, c = src[i - 1 if i > 0 else h - 1], src[i], src[i + 1 if i + 1 < h else 0]
        for k in range(n):
            mid[k] = np.uint16(a[k]) + np.uint16(b[k]) * np.uint16(2) + np.uint16(c[k])
        row[:3] = row[n:n + 3]
        row[n + 3:] = row[3:6]
        left, right, o = row[:n], row[6:], out[i]
        for k in range(n):
            o[k] = np.uint8((left[k] + mid[k] * np.uint16(2) + right[k] + np.uint16(8))
                            >> np.uint16(4))


@numba.njit(cache=True)
def pyramid_into(data, levels):
    """Fill levels 1.. of the packed pyramid `data` (levels (L, 3) rows (start, h, w)) with the
    rounded 2 x 2 means of the level above (`mipmap.build`)."""
    for lvl in range(1, levels.shape[0]):
        s0, h0, w0 = levels[lvl - 1, 0], levels[lvl - 1, 1], levels[lvl - 1, 2]
        s1, h1, w1 = levels[lvl, 0], levels[lvl, 1], levels[lvl, 2]
        src = data[s0:s0 + h0 * w0 * 3].reshape(h0, 3 * w0)
        dst = data[s1:s1 + h1 * w1 * 3].reshape(h1, 3 * w1)
        pair = np.empty(3 * w0, np.uint16)
        for i in range(h1):
            r0, r1, o = src[2 * i], src[2 * i + 1], dst[i]
            for k in range(3 * w0):
                pair[k] = np.uint16(r0[k]) + np.uint16(r1[k])
            for j in range(w1):
                for ch in range(3):
                    k = 6 * j + ch
                    o[3 * j + ch] = np.uint8((pair[k] + pair[k + 3] + np.uint16(2))
                                             >> np.uint16(2))
