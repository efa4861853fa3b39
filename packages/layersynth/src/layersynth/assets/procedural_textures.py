"""The built-in texture bank: 70 procedural families x 3 non-periodic (256, 256, 3) uint8 images.

Fourteen kinds, each drawn as five families: colour ramps of fractal noise, per-channel colour
noise, turbulence, ridged veins, marble (warped bands), wood (warped rings), domain-warped noise,
camouflage patches, cell mosaics, pebbles (cell shading), cracked ground (cell edges), spots,
granite speckle and embossed relief. A family is a kind plus the style drawn for it from
`default_rng([SEED, family])` (scales, octaves, palette); its textures draw their content from
`default_rng([SEED, family, 1 + j])`. Lattices are never tiled, so no texture repeats.
`texture_noise` holds the primitives: IEEE arithmetic only, so the bank is the same bits on every
machine.

Texture i is family i // PER_FAMILY, instance i % PER_FAMILY. Instances 0 and 1 serve objects, the
last one still backgrounds (`split`), so an object never wears the background's own image.

The bank is built once per machine and cached as an .npz named by `cache_key()` under
$XDG_CACHE_HOME/layersynth (or ~/.cache/layersynth); a cache whose content digest does not match
its header is rebuilt.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from layersynth.assets import bank_cache
from layersynth.assets import texture_noise as tn

TEXTURES_VERSION = 1  # bump when any texture changes: it is part of the cache key
SEED = 20261214
FAMILIES = 70
PER_FAMILY = 3


def cache_key() -> str:
    return f"procedural-textures-v{TEXTURES_VERSION}-s{SEED}-f{FAMILIES}x{PER_FAMILY}-{tn.SIZE}"


def _stretch(style, t):
    """t in [0, 1] with its contrast about 0.5 raised (a fractal sum clusters near its middle)."""
    return np.clip((t - 0.5) * style.uniform(1.4, 2.2) + 0.5, 0.0, 1.0)


def _pal(style, stops=None):
    stops = stops or int(style.integers(2, 5))
    return tn.palette(style, stops, style.uniform(0.05, 0.5), (0.2, 0.9))


# ----------------------------------------------------------------------------- kinds
# Each kind(style, rng) -> (SIZE, SIZE, 3) float colours in [0, 1]: style fixes the family's look,
# rng the instance's content.


def _fractal(style, rng):
    cells, octaves, gain = style.uniform(2, 10), int(style.integers(3, 7)), style.uniform(0.4, 0.7)
    return tn.ramp(_stretch(style, tn.unit(tn.fbm(rng, cells, octaves, gain))), _pal(style))


def _colour_noise(style, rng):
    cells, octaves = style.uniform(3, 16), int(style.integers(2, 6))
    base, spread = tn.hsv(style.uniform(), style.uniform(0.2, 0.7), 0.6), style.uniform(0.5, 0.9)
    chans = [tn.unit(tn.fbm(rng, cells, octaves, 0.55)) - 0.5 for _ in range(3)]
    return base + spread * np.stack(chans, axis=-1)


def _turbulence(style, rng):
    cells, octaves = style.uniform(2, 8), int(style.integers(4, 7))
    t = tn.unit(-tn.fbm(rng, cells, octaves, style.uniform(0.45, 0.65), ridged=True))
    return tn.ramp(t, _pal(style))


def _veins(style, rng):
    cells, sharp = style.uniform(2, 6), style.uniform(2.0, 6.0)
    t = tn.unit(tn.fbm(rng, cells, 5, 0.5, ridged=True))
    return tn.ramp(np.clip((t - 0.5) * sharp + 0.5, 0.0, 1.0), _pal(style, 3))


def _grid():
    y, x = np.mgrid[0:tn.SIZE, 0:tn.SIZE] + 0.5
    return y.astype(np.float64), x.astype(np.float64)


def _marble(style, rng):
    dy, dx = style.uniform(-1.0, 1.0, 2)
    freq, warp = style.uniform(2.0, 7.0) / tn.SIZE, style.uniform(1.5, 4.0)
    y, x = _grid()
    phase = freq * (dy * y + dx * x) + warp * tn.fbm(rng, style.uniform(2, 5), 5, 0.55)
    return tn.ramp(tn.wave(phase), _pal(style))


def _wood(style, rng):
    cy, cx = rng.uniform(-0.5, 1.5, 2) * tn.SIZE
    aspect, rings = style.uniform(2.0, 6.0), style.uniform(8.0, 20.0) / tn.SIZE
    y, x = _grid()
    r = np.sqrt(((y - cy) / aspect) ** 2 + (x - cx) ** 2)
    r = r + r * r * style.uniform(0.5, 2.0) / tn.SIZE  # rings narrow outwards: no one period
    phase = rings * r + style.uniform(1.5, 3.5) * tn.fbm(rng, 4.0, 4, 0.5, aspect=0.3)
    grain = 0.15 * tn.fbm(rng, 24.0, 2, 0.5, aspect=0.1)
    return tn.ramp(np.clip(tn.wave(phase) + grain, 0.0, 1.0), _pal(style, 3))


def _warped(style, rng):
    amount, cells = style.uniform(20.0, 70.0), style.uniform(3, 8)
    y, x = _grid()
    wy, wx = (tn.fbm(rng, cells / 2, 3, 0.5) for _ in range(2))
    t = sum(0.55 ** k * tn.noise_at(rng, y + amount * wy, x + amount * wx, cells * 2.1 ** k)
            for k in range(4))
    return tn.ramp(_stretch(style, tn.unit(t)), _pal(style))


def _camouflage(style, rng):
    layers = int(style.integers(3, 6))
    colours = _pal(style, layers + 1)[style.permutation(layers + 1)]
    cells = style.uniform(2, 6)
    out = np.broadcast_to(colours[0], (tn.SIZE, tn.SIZE, 3)).copy()
    for k in range(1, layers + 1):
        mask = tn.soft_step(tn.fbm(rng, cells, 4, 0.5), rng.uniform(0.0, 0.3), 0.04)[..., None]
        out = out * (1.0 - mask) + colours[k] * mask
    return out


def _mosaic(style, rng):
    count = style.uniform(6, 24)
    _, _, index = tn.cells(rng, count)
    colours = _pal(style, 5)
    t = rng.uniform(0.0, 1.0, int(index.max()) + 1)[index]
    return tn.ramp(t, colours) * (0.9 + 0.1 * tn.unit(tn.fbm(rng, 20.0, 2))[..., None])


def _pebbles(style, rng):
    f1, f2, index = tn.cells(rng, style.uniform(5, 16))
    edge = np.clip((f2 - f1) * style.uniform(3.0, 8.0), 0.0, 1.0)
    tint = rng.uniform(0.0, 1.0, int(index.max()) + 1)[index]
    return tn.ramp(tint, _pal(style, 3)) * (0.25 + 0.75 * edge)[..., None]


def _cracks(style, rng):
    f1, f2, _ = tn.cells(rng, style.uniform(4, 12))
    crack = tn.soft_step(f2 - f1, style.uniform(0.04, 0.12), 0.05)
    fill = tn.ramp(tn.unit(tn.fbm(rng, style.uniform(4, 12), 4)), _pal(style, 3))
    return fill * (0.2 + 0.8 * crack)[..., None]


def _spots(style, rng):
    f1, _, _ = tn.cells(rng, style.uniform(6, 16))
    jitter = 0.15 * tn.fbm(rng, 12.0, 3)
    radius = style.uniform(0.3, 0.45)
    core = tn.soft_step(radius - f1 + jitter, 0.0, 0.05)
    ring = tn.soft_step(radius + 0.12 - f1 + jitter, 0.0, 0.05) - core
    c = _pal(style, 3)
    base = tn.ramp(tn.unit(tn.fbm(rng, 4.0, 3)), c[1:]) * (1.0 - ring - core)[..., None]
    return base + c[0] * ring[..., None] + c[2] * 0.6 * core[..., None]


def _granite(style, rng):
    colours = _pal(style, 4)
    out = tn.ramp(tn.unit(tn.fbm(rng, style.uniform(3, 8), 4)), colours[:2])
    for k in (2, 3):
        grains = tn.soft_step(tn.value_noise(rng, 90.0, 90.0), style.uniform(0.3, 0.6), 0.1)
        out = out * (1.0 - grains[..., None]) + colours[k] * grains[..., None]
    return out


def _relief(style, rng):
    h = tn.fbm(rng, style.uniform(3, 10), 5, style.uniform(0.45, 0.6)) * style.uniform(20, 60)
    ly, lx = style.uniform(-1.0, 1.0, 2)
    gy, gx = np.gradient(h)
    light = np.clip(0.5 + 0.5 * (ly * gy + lx * gx), 0.0, 1.0)
    return tn.ramp(tn.unit(h), _pal(style, 2)) * (0.4 + 0.6 * light)[..., None]


KINDS = (_fractal, _colour_noise, _turbulence, _veins, _marble, _wood, _warped, _camouflage,
         _mosaic, _pebbles, _cracks, _spots, _granite, _relief)


# ----------------------------------------------------------------------------- the bank


def family_name(family: int) -> str:
    return f"{KINDS[family % len(KINDS)].__name__[1:]}-{family // len(KINDS)}"


def make_texture(i: int) -> np.ndarray:
    """Texture i of the bank: (SIZE, SIZE, 3) uint8."""
    family, instance = divmod(i, PER_FAMILY)
    style = np.random.default_rng([SEED, family])
    rng = np.random.default_rng([SEED, family, 1 + instance])
    return tn.to_uint8(KINDS[family % len(KINDS)](style, rng))


def build() -> np.ndarray:
    """(FAMILIES * PER_FAMILY, SIZE, SIZE, 3) uint8, in order (a few seconds)."""
    return np.stack([make_texture(i) for i in range(FAMILIES * PER_FAMILY)])


def split(bank: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(object textures, background textures): every family in both, never the same image."""
    per = bank.reshape(FAMILIES, PER_FAMILY, *bank.shape[1:])
    return list(per[:, :-1].reshape(-1, *bank.shape[1:])), list(per[:, -1])


def digest(bank: np.ndarray) -> str:
    h = hashlib.sha256(repr(bank.shape).encode())
    h.update(np.ascontiguousarray(bank).tobytes())
    return h.hexdigest()


def cache_path(cache_dir: str | os.PathLike | None = None) -> Path:
    return bank_cache.cache_file(cache_key(), cache_dir)


def load_or_build(cache_dir: str | os.PathLike | None = None) -> np.ndarray:
    """The bank from its cache file, or built (and cached) when the file is missing or wrong."""
    path = cache_path(cache_dir)
    bank = _load(path)
    if bank is None:
        bank = build()
        _save(bank, path)
    return bank


@lru_cache(maxsize=1)
def builtin_textures() -> np.ndarray:
    """The bank of this process (loaded once), read-only."""
    bank = load_or_build()
    bank.setflags(write=False)
    return bank


def _load(path: Path) -> np.ndarray | None:
    cached = bank_cache.read(path, cache_key())
    if cached is None or "bank" not in cached[0]:
        return None
    bank, sha256 = cached[0]["bank"], cached[1]
    return bank if sha256 == digest(bank) else None


def _save(bank: np.ndarray, path: Path) -> None:
    # uncompressed: ~40 MB that loads in tens of ms
    bank_cache.write(path, cache_key(), digest(bank), {"bank": bank}, compressed=False,
                     what="procedural texture bank")
