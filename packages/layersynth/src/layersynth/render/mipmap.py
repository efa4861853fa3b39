"""Seamless, mip-mapped textures: what the render kernels read for a still texture.

Addressing wraps (texture pixel u is u mod w), so a layer whose sampled region is larger than its
texture (the background under a moving camera) repeats it instead of mirroring it: mirroring left
symmetry seams. Wrapping is continuous only on a periodic image, so every still texture is first
made seamless (`seamless`): the last `b` rows and columns are cross-faded into the first ones and
cut off, so the image's right edge continues into its left edge and its bottom into its top. The
fade keeps the local contrast (weights normalised by their root sum of squares about the bands'
mean colour), so the band neither fades nor ghosts to grey. Any source (the built-in bank, the
photographs, a `--textures` folder, a user's own TextureSource) is treated the same way.

Minified textures alias, so `build` adds a pyramid of 2 x 2 box-filtered levels (exact integer
means) while both sides stay even and at least MIN_SIDE texels; the kernels pick a level from
the pixel's texel footprint and blend two levels (trilinear; `layersynth.render.textures.sample`
is the reference). Level l's texel k covers level-0 texels [2^l k, 2^l (k + 1)), so level-0
coordinate u reads level l at (u + 0.5) / 2^l - 0.5.

A texture drawn 1:1 by bilinear lookup keeps detail up to the pixel's Nyquist frequency, sharper
than a camera sees (its pixel area and optics blur), and such detail is what a flow estimator and a
warp cannot follow: `soften` passes level 0 through a [1 2 1] / 4 binomial filter first. It halves
the warp error of frames with the colour jitter off (bench/warp_error.py, docs/renderer.md) at no
cost per pixel; a level-of-detail bias (kernels.LOD_BIAS = 1) gave about the same error for two
texture reads on most pixels.

`cached(tex)` builds each texture image once per process (memoised by array identity, bounded
LRU; through `mipbuild`'s numba passes: the same bytes in ~0.4 ms instead of ~1.5 ms): a scene
does not rebuild the pyramids of the textures it shares with earlier scenes. All arithmetic is
IEEE (+ - * / sqrt, rint) on float64 or integers: the same bits on every machine.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from layersynth.render import mipbuild

MAX_LEVELS = 6  # footprints up to 32 texels a pixel get their own level; beyond, the coarsest
MIN_SIDE = 8  # texels: no level smaller than this (a few texels would be one flat colour)
BAND_SHARE = 8  # the seam band is 1/8 of the shorter side (at least 4 texels)
ALIGN = 16  # seamless sides of textures >= 64 px are multiples of 16: 4 exact halvings
_CACHE_SIZE = 1024  # textures (~0.3 MB each at 256 px): the built-in pool is ~230


@dataclass(frozen=True, eq=False)
class MipTexture:
    """data: (N,) uint8, level l's (h_l, w_l, 3) texels in C order from data[levels[l, 0]];
    levels: (L, 3) int64 rows (start, h_l, w_l); wrap: periodic addressing (else mirrored, one
    level only: a background video's frame)."""

    data: np.ndarray
    levels: np.ndarray
    wrap: bool

    def level(self, lvl: int) -> np.ndarray:
        """(h_l, w_l, 3) uint8 view of level `lvl`."""
        start, h, w = (int(v) for v in self.levels[lvl])
        return self.data[start: start + h * w * 3].reshape(h, w, 3)

    def kernel_args(self) -> tuple:
        """(data, levels, wrap): the kernels' texture arguments."""
        return self.data, self.levels, self.wrap


def seamless(img: np.ndarray) -> np.ndarray:
    """(h, w, 3) uint8 -> (h', w', 3) uint8, periodic: wrapping it is as continuous as its inside.

    h' = h - b_y (likewise w'), b >= max(4, min(h, w) // BAND_SHARE), h' rounded down to a multiple
    of ALIGN when h >= 64. Columns are folded first, then rows. Needs h, w >= 8."""
    h, w = img.shape[:2]
    if min(h, w) < 8:
        raise ValueError(f"a texture needs at least 8 x 8 pixels to tile, got {h}x{w}")
    band = max(4, min(h, w) // BAND_SHARE)
    cols = _fold(img, _side(w, band), axis=1)
    return _fold(cols, _side(h, band), axis=0)


def _side(n: int, band: int) -> int:
    side = n - band
    return side - side % ALIGN if n >= 64 else side


def _fold(img: np.ndarray, side: int, axis: int) -> np.ndarray:
    """(h, w, 3) uint8 -> `side` texels along `axis`: texels [side, n) cross-faded into texels
    [0, n - side) and cut off, so texel side - 1 continues into texel 0. The fade is about the
    two bands' mean colour (sums of integers in float64: exact in any order, the same bits on
    every machine)."""
    b = img.shape[axis] - side
    shape = (b, 1, 1) if axis == 0 else (1, b, 1)
    wa, wb = (wt.reshape(shape) for wt in _fold_weights(b))
    cut = (slice(None),) * axis
    head = img[(*cut, slice(0, b))].astype(np.float64)
    tail = img[(*cut, slice(side, side + b))].astype(np.float64)
    ones = np.ones(head.size // 3)
    mean = (ones @ head.reshape(-1, 3) + ones @ tail.reshape(-1, 3)) / (2 * ones.size)
    out = np.array(img[(*cut, slice(0, side))], order="C")  # a copy: img stays as it was
    mixed = head * wa + tail * wb + mean * (1.0 - wa - wb)
    out[(*cut, slice(0, b))] = np.clip(np.rint(mixed), 0, 255)
    return out


def _fold_weights(b: int) -> tuple[np.ndarray, np.ndarray]:
    """(b,) weights of the kept and the cut texel across a band of b texels."""
    a = np.arange(b) / (b - 1)  # weight of the kept texel, 0 -> 1: both ends of the band
    # continue their neighbours (texel side - 1 into 0, b - 1 into b) exactly
    norm = np.sqrt(a * a + (1.0 - a) * (1.0 - a))
    return a / norm, (1.0 - a) / norm


def soften(img: np.ndarray) -> np.ndarray:
    """(h, w, 3) uint8 periodic -> the same under a wrapped [1 2 1] / 4 binomial filter along
    both axes (exact integers, rounded): what the camera's pixel area and optics remove."""
    q = img.astype(np.uint16)
    q = np.roll(q, 1, 0) + 2 * q + np.roll(q, -1, 0)
    q = np.roll(q, 1, 1) + 2 * q + np.roll(q, -1, 1)
    return ((q + 8) >> 4).astype(np.uint8)


def build(img: np.ndarray) -> MipTexture:
    """The wrapped pyramid of a periodic (h, w, 3) uint8 image (level 0 = img, unchanged)."""
    levels = [np.ascontiguousarray(img, dtype=np.uint8)]
    while len(levels) < len(_level_sides(*img.shape[:2])):
        top = levels[-1]
        rows = top[0::2].astype(np.uint16) + top[1::2]
        levels.append(((rows[:, 0::2] + rows[:, 1::2] + 2) >> 2).astype(np.uint8))
    return _pack(levels, wrap=True)


def _level_sides(h: int, w: int) -> list[tuple[int, int]]:
    """(h_l, w_l) of every level of `build`'s pyramid over an h x w level 0."""
    sides = [(h, w)]
    while len(sides) < MAX_LEVELS and not (h % 2 or w % 2 or min(h, w) // 2 < MIN_SIDE):
        h, w = h // 2, w // 2
        sides.append((h, w))
    return sides


def _build_fast(tex: np.ndarray) -> MipTexture:
    """build(soften(seamless(tex))), the same bytes, through `mipbuild`'s numba passes."""
    h, w = tex.shape[:2]
    if min(h, w) < 8:
        seamless(tex)  # raises its error
    band = max(4, min(h, w) // BAND_SHARE)
    tex = np.ascontiguousarray(tex)  # the passes read whole rows
    side_w, side_h = _side(w, band), _side(h, band)
    wa, wb = _fold_weights(w - side_w)
    img = mipbuild.fold_columns(tex, side_w, wa, wb, 1.0 - wa - wb)
    wa, wb = _fold_weights(h - side_h)
    img = mipbuild.fold_rows(img, side_h, wa, wb, 1.0 - wa - wb)
    sides = _level_sides(*img.shape[:2])
    sizes = [3 * sh * sw for sh, sw in sides]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    rows = np.array([[s, sh, sw] for s, (sh, sw) in zip(starts, sides, strict=True)], np.int64)
    data = np.empty(sum(sizes), np.uint8)
    mipbuild.soften_into(img, data)
    mipbuild.pyramid_into(data, rows)
    return MipTexture(_readonly(data), _readonly(rows), True)


def single(img: np.ndarray) -> MipTexture:
    """One mirrored level over (h, w, 3) uint8 `img` (no copy when C-contiguous): a video frame,
    drawn about 1:1 and not periodic."""
    return _pack([img], wrap=False)


def _pack(levels: list[np.ndarray], wrap: bool) -> MipTexture:
    sizes = [lv.size for lv in levels]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    rows = np.array([[s, lv.shape[0], lv.shape[1]] for s, lv in zip(starts, levels, strict=True)],
                    dtype=np.int64)
    data = levels[0].reshape(-1) if len(levels) == 1 else np.concatenate(
        [lv.reshape(-1) for lv in levels])
    return MipTexture(_readonly(data), _readonly(rows), wrap)


def _readonly(a: np.ndarray) -> np.ndarray:
    a = a.view()  # a view: freezing it leaves the caller's array as it was
    a.setflags(write=False)
    return a


_cache: OrderedDict[int, tuple[weakref.ref, MipTexture]] = OrderedDict()


def cached(tex: np.ndarray) -> MipTexture:
    """build(soften(seamless(tex))), once per texture array object of this process (bounded
    LRU)."""
    key = id(tex)
    hit = _cache.get(key)
    if hit is not None and hit[0]() is tex:
        _cache.move_to_end(key)
        return hit[1]
    mip = _build_fast(tex)
    # the entry goes when the texture does (a video's first frame, a folder image evicted from
    # its source's cache), before its id can be reused
    _cache[key] = (weakref.ref(tex, lambda _, key=key: _cache.pop(key, None)), mip)
    if len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return mip
