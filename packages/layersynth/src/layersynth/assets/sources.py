"""Assets a scene draws from: textures, silhouettes, backgrounds, behind small source interfaces.

`Assets.builtin()` needs no download: the procedural texture bank (`procedural_textures`: 70
families) plus halves of public-domain / CC0 photographs that ship inside scikit-image, objects and
still backgrounds drawing from disjoint pools; the procedural silhouette bank (`procedural_shapes`:
320 shapes with limbs, holes and thin parts) plus scikit-image's CC0 horse. A folder of PASS images
or a YouTube-VOS silhouette bank plugs in by implementing `TextureSource` / `SilhouetteSource`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol, runtime_checkable

import numpy as np
import skimage.data
from scipy.ndimage import label

from layersynth.assets import procedural_textures
from layersynth.assets.procedural_shapes import builtin_shapes, cache_key
from layersynth.motion import detmath

# Fixed seed of the procedural assets: they are part of the generator, identical on every machine.
_ASSET_SEED = 20221
# Photographs shipped in scikit-image, licences as its docstrings state: grass, gravel (CC0,
# grayscale; tinted per scene), coffee, chelsea, retina (CC0), rocket (SpaceX, public domain),
# hubble_deep_field (NASA, public domain). Not the brick wall (a regular bond) nor the astronaut (a
# portrait). Each is cut into two halves: the left one serves objects, the right one backgrounds.
_PHOTOS = ("grass", "gravel", "coffee", "chelsea", "retina", "rocket", "hubble_deep_field")


@runtime_checkable
class TextureSource(Protocol):
    """Indexable images: `get(i)` -> (h, w, 3) uint8, C-contiguous, h, w >= 16."""

    def __len__(self) -> int: ...

    def get(self, i: int) -> np.ndarray: ...

    def describe(self) -> dict: ...


@runtime_checkable
class SilhouetteSource(Protocol):
    """Indexable object masks: `get(i)` -> (h, w) bool, True on the object, cropped to it."""

    def __len__(self) -> int: ...

    def get(self, i: int) -> np.ndarray: ...

    def describe(self) -> dict: ...


class ArraySource:
    """An in-memory source (textures or silhouettes) with a content digest for `describe()`."""

    def __init__(self, name: str, arrays: list[np.ndarray]) -> None:
        if not arrays:
            raise ValueError(f"{name}: an asset source needs at least one item")
        self.name = name
        self._arrays = [_frozen(a) for a in arrays]
        digest = hashlib.sha256()
        for a in self._arrays:
            digest.update(repr((a.shape, a.dtype.str)).encode())
            digest.update(a.tobytes())
        self._digest = digest.hexdigest()

    def __len__(self) -> int:
        return len(self._arrays)

    def get(self, i: int) -> np.ndarray:
        return self._arrays[i]

    def describe(self) -> dict:
        return {"kind": self.name, "count": len(self), "sha256": self._digest}


@runtime_checkable
class VideoSource(Protocol):
    """Background clips (e.g. layersynth.assets.background_video.BackgroundVideos).

    `sample(rng, count, out_hw)` draws a window (an object with `to_dict()`, JSON-safe);
    `frames(window, count, out_hw)` -> (count, H, W, 3) uint8, a pure function of the window.
    The renderer rebuilds a window from its dict with `window_from_dict(d)` when the source has
    it, else with layersynth.assets.background_video.VideoWindow.from_dict.
    """

    def __len__(self) -> int: ...

    def sample(self, rng: np.random.Generator, count: int, out_hw: tuple[int, int]): ...

    def frames(self, window, count: int, out_hw: tuple[int, int]) -> np.ndarray: ...

    def describe(self) -> dict: ...


@dataclass(frozen=True, eq=False)
class Assets:
    """What scenes draw from. `backgrounds=None` draws still backgrounds from `textures` (the
    built-in assets give a separate pool, so objects never take the background's image);
    `videos`, when given, replaces the still background of a share of scenes by a clip
    (SceneConfig.video_background_prob)."""

    textures: TextureSource
    silhouettes: SilhouetteSource
    backgrounds: TextureSource | None = None
    videos: VideoSource | None = None

    @property
    def background_source(self) -> TextureSource:
        return self.textures if self.backgrounds is None else self.backgrounds

    @classmethod
    def builtin(cls, smooth: bool = False) -> Assets:
        """The built-in assets (deterministic, cached).

        smooth=True: only Gaussian-blurred colour noise textures (smooth at the pixel scale), for
        checks that warp frames with the flow (brightness constancy without aliasing).
        """
        return _builtin(smooth)

    def describe(self) -> dict:
        """JSON-safe summary; changes whenever the assets' content changes."""
        bg = None if self.backgrounds is None else self.backgrounds.describe()
        videos = None if self.videos is None else self.videos.describe()
        return {
            "textures": self.textures.describe(),
            "silhouettes": self.silhouettes.describe(),
            "backgrounds": bg,
            "videos": videos,
        }


@lru_cache(maxsize=2)
def _builtin(smooth: bool) -> Assets:
    if smooth:
        rng = np.random.default_rng(_ASSET_SEED)
        textures = ArraySource("builtin-smooth", [smooth_noise(rng, 256, 6.0) for _ in range(8)])
        return Assets(textures=textures, silhouettes=_builtin_silhouettes())
    # Issue 14: objects and still backgrounds draw from disjoint pools of the texture bank and of
    # the photographs, so an object never wears the background's own image.
    objects, backgrounds = procedural_textures.split(procedural_textures.builtin_textures())
    left, right = zip(*(_halves(_photo(n)) for n in _PHOTOS), strict=True)
    key = procedural_textures.cache_key()
    return Assets(textures=ArraySource(f"builtin-{key}-objects", [*objects, *left]),
                  silhouettes=_builtin_silhouettes(),
                  backgrounds=ArraySource(f"builtin-{key}-backgrounds", [*backgrounds, *right]))


@lru_cache(maxsize=1)
def _builtin_silhouettes() -> ArraySource:
    # Issue 13: the procedural bank replaces the 16 smooth blobs (procedural_silhouettes) as the
    # default pool; the name carries the bank's cache key so a new bank version shows in describe().
    return ArraySource(f"builtin-{cache_key()}", [*builtin_shapes(), _horse()])


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def _photo(name: str) -> np.ndarray:
    """(h, w, 3) uint8 of a scikit-image photograph; the 1411 px fundus photograph (retina) is
    halved (exact integer 2 x 2 means) and cut to the square inside its disc."""
    img = getattr(skimage.data, name)()
    if img.ndim == 2:
        return np.repeat(img[..., None], 3, axis=2)
    img = img[..., :3]
    if name == "retina":
        h, w = img.shape[0] // 2 * 2, img.shape[1] // 2 * 2
        q = img[:h, :w].astype(np.uint16)
        img = ((q[0::2, 0::2] + q[0::2, 1::2] + q[1::2, 0::2] + q[1::2, 1::2] + 2) // 4).astype(
            np.uint8)
        c = img.shape[0] // 2
        img = img[c - 224: c + 224, c - 224: c + 224]
    return img


def _halves(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) halves of an image, disjoint."""
    w = img.shape[1] // 2
    return img[:, :w], img[:, w: 2 * w]


def _horse() -> np.ndarray:
    return _crop(~skimage.data.horse())  # the horse is drawn black on white


def _crop(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def _normalise(img: np.ndarray) -> np.ndarray:
    """Stretch each channel to [16, 240] and convert to uint8."""
    lo = img.min(axis=(0, 1), keepdims=True)
    hi = img.max(axis=(0, 1), keepdims=True)
    return np.round(16 + 224 * (img - lo) / np.maximum(hi - lo, 1e-9)).astype(np.uint8)


def smooth_noise(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    """(size, size, 3) uint8 colour noise blurred by a periodic Gaussian of `sigma` pixels.

    The blur is a product in the Fourier domain (periodic, so the texture tiles), ~100x faster
    than a spatial filter at the large sigmas used here."""
    noise = rng.standard_normal((size, size, 3))
    f = np.fft.fftfreq(size)
    g = detmath.exp(-2.0 * (math.pi * sigma) ** 2 * f * f)  # separable: exp(-a fx^2) exp(-a fy^2)
    blurred = np.fft.ifft2(np.fft.fft2(noise, axes=(0, 1)) * (g[:, None] * g[None, :])[..., None],
                           axes=(0, 1))
    return _normalise(blurred.real)


def procedural_silhouettes(rng: np.random.Generator) -> list[np.ndarray]:
    """Sixteen smooth (h, w) bool shapes: star-shaped radial harmonics and unions of ellipses.

    Angles are handled through cos/sin of the pixel direction and their multiple-angle recurrence
    (plain arithmetic), so the shapes are the same on every machine."""
    yy, xx = (np.mgrid[0:129, 0:129] - 64.0) / 64.0
    radius = np.sqrt(xx * xx + yy * yy)
    c1 = np.where(radius > 0, xx / np.where(radius > 0, radius, 1.0), 1.0)  # cos(angle)
    s1 = np.where(radius > 0, yy / np.where(radius > 0, radius, 1.0), 0.0)  # sin(angle)
    shapes = []
    for _ in range(12):
        r, ck, sk = np.ones_like(radius), c1, s1
        for k in range(2, 6):
            ck, sk = ck * c1 - sk * s1, sk * c1 + ck * s1  # cos(k angle), sin(k angle)
            amp, phi = rng.uniform(0, 0.6 / k), rng.uniform(0, 2 * math.pi)  # r > 0.2: star-shaped
            r += amp * (ck * math.cos(phi) - sk * math.sin(phi))
        shapes.append(_crop(radius < 0.95 * r / r.max()))
    for _ in range(4):
        mask = np.zeros_like(radius, dtype=bool)
        for _ in range(rng.integers(2, 5)):
            cx, cy = rng.uniform(-0.35, 0.35, 2)
            ax, ay = rng.uniform(0.2, 0.55, 2)
            t = rng.uniform(0, math.pi)
            u = (xx - cx) * math.cos(t) + (yy - cy) * math.sin(t)
            v = -(xx - cx) * math.sin(t) + (yy - cy) * math.cos(t)
            mask |= (u / ax) ** 2 + (v / ay) ** 2 < 1
        shapes.append(_crop(_largest_component(mask)))
    return shapes


def _largest_component(mask: np.ndarray) -> np.ndarray:
    labels, n = label(mask)
    if n <= 1:
        return mask
    return labels == 1 + int(np.argmax(np.bincount(labels.ravel())[1:]))
