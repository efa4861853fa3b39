"""The built-in procedural silhouette bank: determinism, cache, and the shapes it holds."""

import numpy as np
import pytest
from layersynth.assets import procedural_shapes as ps
from layersynth.assets.sources import Assets
from scipy import ndimage

# The bank's content digest on the machine that wrote this test: a shape that changes on another
# machine (or after an edit without a SHAPES_VERSION bump) fails here.
DIGEST = "3a16ba3ab9a47630958888fbd2a69d5cba9a31719e76869f404c32080d3c6bc4"


@pytest.fixture(scope="module")
def bank():
    return ps.build()


def test_two_builds_are_byte_identical_and_match_the_pinned_digest(bank):
    again = ps.build()
    assert all(a.shape == b.shape and a.tobytes() == b.tobytes()
               for a, b in zip(bank, again, strict=True))
    assert ps.digest(bank) == ps.digest(again) == DIGEST


def test_the_bank_holds_at_least_300_distinct_cropped_one_piece_shapes(bank):
    assert len(bank) == ps.COUNT >= 300
    assert len({ps.digest([m]) for m in bank}) == len(bank)
    for m in bank:
        assert m.dtype == bool and max(m.shape) <= ps.GRID and m.sum() > 300
        assert m[0].any() and m[-1].any() and m[:, 0].any() and m[:, -1].any()
        assert ndimage.label(m, structure=np.ones((3, 3)))[1] == 1


def test_shapes_have_holes_limbs_and_concave_outlines(bank):
    stats = [ps.shape_stats(m) for m in bank]
    solidity = np.array([s for s, _ in stats])
    holes = np.array([h for _, h in stats])
    assert (holes > 0).mean() > 0.3  # rings, loops, perforations, crossing branches
    assert np.median(solidity) < 0.7  # limbs and branches: far from the old blobs (~0.9)
    assert (solidity < 0.5).mean() > 0.3  # thin, many-limbed shapes
    assert (solidity > 0.6).mean() > 0.2  # and compact bodies too
    for family in range(len(ps.FAMILIES)):  # every family is drawn
        assert len(bank[family::len(ps.FAMILIES)]) == ps.COUNT // len(ps.FAMILIES)


def test_shape_stats_measure_solidity_and_holes():
    square = np.ones((10, 10), bool)
    ring = square.copy()
    ring[3:7, 3:7] = False
    assert ps.shape_stats(square) == (pytest.approx(1.0), 0)
    sol, holes = ps.shape_stats(ring)
    assert holes == 1 and sol == pytest.approx(84 / 100)


def test_the_bank_is_cached_and_a_damaged_cache_is_rebuilt(tmp_path, monkeypatch, bank):
    built = ps.load_or_build(tmp_path)
    path = ps.cache_path(tmp_path)
    assert path.is_file() and ps.digest(built) == DIGEST

    def refuse():
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(ps, "build", refuse)
    assert ps.digest(ps.load_or_build(tmp_path)) == DIGEST
    good = path.read_bytes()
    monkeypatch.setattr(ps, "build", lambda: bank)
    for damaged in (b"not an npz", good[:len(good) // 2], good[:100]):  # garbage, truncated zips
        path.write_bytes(damaged)
        assert ps.digest(ps.load_or_build(tmp_path)) == DIGEST
        assert ps.digest(ps._load(path)) == DIGEST  # rebuilt and written again, readable
    assert ps.cache_path(tmp_path).name.startswith(f"procedural-shapes-v{ps.SHAPES_VERSION}-")


def test_the_builtin_assets_draw_silhouettes_from_the_bank(bank):
    sil = Assets.builtin().silhouettes
    assert len(sil) == len(bank) + 1  # and scikit-image's horse
    assert ps.cache_key() in sil.describe()["kind"]
    assert all(np.array_equal(sil.get(i), bank[i]) for i in (0, 7, 150, ps.COUNT - 1))
