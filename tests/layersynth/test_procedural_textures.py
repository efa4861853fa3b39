"""The built-in procedural texture bank: determinism, cache, variety, no repetition."""

import numpy as np
import pytest
from layersynth.assets import procedural_textures as pt
from layersynth.assets.sources import Assets
from scipy import ndimage

# The bank's content digest on the machine that wrote this test: a texture that changes on another
# machine (or after an edit without a TEXTURES_VERSION bump) fails here.
DIGEST = "bad20bf2fd5806e33bfd8a21ec6b7e30a7b2bbe02120cdb53e4f6ad60753651a"


@pytest.fixture(scope="module")
def bank():
    return pt.build()


def autocorrelation_peak(img: np.ndarray, reach: int = 96, near: int = 4) -> float:
    """The highest local maximum of the normalised autocorrelation of img's grey levels at a shift
    of more than `near` px (up to `reach`): about 1 for a texture that repeats, -1 when none."""
    g = img.astype(np.float64).mean(axis=2)
    g -= g.mean()
    n = g.shape[0]
    f = np.fft.rfft2(g, s=(2 * n, 2 * n))  # zero-padded: linear, not circular, correlation
    a = np.roll(np.fft.irfft2(f * np.conj(f), s=(2 * n, 2 * n)), (reach, reach), axis=(0, 1))
    s = np.arange(-reach, reach + 1)
    overlap = (n - np.abs(s))[:, None] * (n - np.abs(s))[None, :]
    r = a[: 2 * reach + 1, : 2 * reach + 1] / overlap / (g * g).mean()
    far = np.maximum(np.abs(s)[:, None], np.abs(s)[None, :]) > near
    peaks = r[(r == ndimage.maximum_filter(r, 3)) & far]
    return float(peaks.max()) if peaks.size else -1.0


def test_two_builds_are_byte_identical_and_match_the_pinned_digest(bank):
    again = pt.build()
    assert bank.tobytes() == again.tobytes()
    assert pt.digest(bank) == pt.digest(again) == DIGEST


def test_the_bank_holds_at_least_60_distinct_families_of_rgb_textures(bank):
    assert pt.FAMILIES >= 60 and bank.shape == (pt.FAMILIES * pt.PER_FAMILY, 256, 256, 3)
    assert bank.dtype == np.uint8
    assert len({pt.family_name(f) for f in range(pt.FAMILIES)}) == pt.FAMILIES
    coarse = bank.reshape(len(bank), 32, 8, 32, 8, 3).mean(axis=(2, 4))  # (N, 32, 32, 3)
    diff = np.abs(coarse[:, None] - coarse[None]).mean(axis=(2, 3, 4))  # (N, N) levels
    family = np.arange(len(bank)) // pt.PER_FAMILY
    assert diff[family[:, None] != family[None]].min() > 5  # no two families look alike
    assert diff[(family[:, None] == family[None]) & ~np.eye(len(bank), dtype=bool)].min() > 1


def test_no_texture_repeats_itself(bank):
    peaks = [autocorrelation_peak(t) for t in bank]
    assert max(peaks) < 0.9, pt.family_name(int(np.argmax(peaks)) // pt.PER_FAMILY)


def test_the_repetition_check_catches_a_dot_grid_and_warped_stripes():
    x = (np.arange(256) + 0.5) / 256
    wave = np.abs(2 * (x * 12 % 1.0) - 1)
    dots = np.sqrt(wave[None, :] ** 2 + wave[:, None] ** 2) < 0.6
    stripes = (x[None, :] * 20 + 0.05 * x[:, None]) % 1.0 < 0.5
    for pattern in (dots, stripes):
        assert autocorrelation_peak(np.repeat(200 * pattern[..., None], 3, axis=2)) > 0.9


def test_textures_have_contrast_and_the_bank_has_colour_variety(bank):
    per_channel = bank.reshape(len(bank), -1, 3).astype(np.float64)
    assert per_channel.std(axis=1).max(axis=1).min() > 10  # levels: no flat texture
    assert min(len(np.unique(t)) for t in bank) > 32
    mean = per_channel.mean(axis=1)  # (N, 3)
    assert (mean.max(axis=1) - mean.min(axis=1) > 20).mean() > 0.8  # coloured, not grey
    assert np.bincount(mean.argmax(axis=1), minlength=3).min() > 20  # red, green, blue casts
    assert mean.max(axis=1).max() > 180 and mean.max(axis=1).min() < 100  # light and dark


def test_the_bank_is_cached_and_a_damaged_cache_is_rebuilt(tmp_path, monkeypatch, bank):
    monkeypatch.setattr(pt, "build", lambda: bank)
    assert pt.digest(pt.load_or_build(tmp_path)) == DIGEST
    path = pt.cache_path(tmp_path)
    assert path.is_file() and path.name.startswith(f"procedural-textures-v{pt.TEXTURES_VERSION}-")

    def refuse():
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(pt, "build", refuse)
    assert pt.digest(pt.load_or_build(tmp_path)) == DIGEST
    for damage in (b"not an npz", path.read_bytes()[:-1000]):
        path.write_bytes(damage)
        calls = []
        monkeypatch.setattr(pt, "build", lambda calls=calls: calls.append(1) or bank)
        assert pt.digest(pt.load_or_build(tmp_path)) == DIGEST and calls == [1]
        monkeypatch.setattr(pt, "build", refuse)
        assert pt.digest(pt.load_or_build(tmp_path)) == DIGEST  # and the rebuilt file serves


def test_a_cache_with_other_content_than_its_header_says_is_rebuilt(tmp_path, monkeypatch, bank):
    path = pt.cache_path(tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tampered = bank.copy()
    tampered[0, 0, 0, 0] ^= 1
    header = np.frombuffer(f'{{"key": "{pt.cache_key()}", "sha256": "{DIGEST}"}}'.encode(),
                           np.uint8)
    with open(path, "wb") as f:
        np.savez(f, bank=tampered, header=header)
    monkeypatch.setattr(pt, "build", lambda: bank)
    assert pt.digest(pt.load_or_build(tmp_path)) == DIGEST


def test_the_builtin_assets_split_the_bank_between_objects_and_backgrounds(bank):
    assets = Assets.builtin()
    objects, backgrounds = assets.textures, assets.backgrounds
    assert pt.cache_key() in objects.describe()["kind"] and pt.cache_key() in \
        backgrounds.describe()["kind"]
    per = bank.reshape(pt.FAMILIES, pt.PER_FAMILY, *bank.shape[1:])
    assert np.array_equal(objects.get(0), per[0, 0]) and np.array_equal(objects.get(1), per[0, 1])
    assert np.array_equal(backgrounds.get(pt.FAMILIES - 1), per[-1, -1])
    assert len(objects) >= 2 * pt.FAMILIES and len(backgrounds) >= pt.FAMILIES
