import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layersynth.render import sprites


def _cross_signs(v):
    a, b, c = v, np.roll(v, -1, 0), np.roll(v, -2, 0)
    ab, bc = b - a, c - b
    return np.sign(ab[:, 0] * bc[:, 1] - ab[:, 1] * bc[:, 0])


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 100_000), st.booleans(), st.integers(3, 10))
def test_polygons_have_the_asked_sides_and_minimum_vertex_distance(seed, convex, sides):
    rng = np.random.default_rng(seed)
    if not convex and sides < 4:
        with pytest.raises(ValueError, match="4 or more sides"):
            sprites.sample_polygon(rng, (3, sides), 30.0, 0.25, convex)
        return
    v = sprites.sample_polygon(rng, (3, sides), 30.0, 0.25, convex)
    assert (3 if convex else 4) <= len(v) <= sides
    assert sprites.nearest_distance(v).min() >= 0.25 * 30.0
    angles = np.unwrap(np.arctan2(v[:, 1], v[:, 0]))
    assert np.all(np.diff(angles) > 0)  # star-shaped around 0, hence a simple polygon
    if convex:
        assert len(set(_cross_signs(v))) == 1
    else:  # drawn non-convex: a reflex vertex, a visible dent, and no self-crossing
        assert len(set(_cross_signs(v))) > 1
        assert sprites.is_simple(v) and sprites.solidity(v) <= sprites.NONCONVEX_SOLIDITY


def test_solidity_is_one_for_convex_outlines_and_less_with_a_dent():
    square = np.array([[0, 0], [2, 0], [2, 2], [0, 2]], float)
    dented = np.array([[0, 0], [2, 0], [1, 1], [2, 2], [0, 2]], float)
    assert sprites.solidity(square) == pytest.approx(1.0)
    assert sprites.solidity(dented) == pytest.approx(3.0 / 4.0)
    assert sprites.is_simple(dented)
    assert not sprites.is_simple(np.array([[0, 0], [2, 2], [2, 0], [0, 2]], float))  # a bow tie


def test_non_convex_polygons_occur():
    rng = np.random.default_rng(0)
    shapes = [sprites.sample_polygon(rng, (5, 10), 30.0, 0.25, False) for _ in range(20)]
    assert any(len(set(_cross_signs(v))) > 1 for v in shapes)


def test_nearest_distance_is_the_papers_d_i():
    pts = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 5.0]])
    np.testing.assert_allclose(sprites.nearest_distance(pts), [3.0, 3.0, 5.0])


def test_rasterised_square_has_its_area_and_holds_its_centre():
    square = np.array([[-10.0, -10.0], [10.0, -10.0], [10.0, 10.0], [-10.0, 10.0]])
    m = sprites.polygon_mask([square], scale=2.0)
    assert abs(m.mask.sum() / 4.0 - 400) < 25
    ox, oy = m.origin
    assert m.mask[int(round(oy)), int(round(ox))]
    x0, x1, y0, y1 = m.extent()
    assert x0 < -10 and x1 > 10 and y0 < -10 and y1 > 10


def test_rasterise_uses_the_even_odd_rule_per_polygon_and_unions_polygons():
    a = np.array([[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0]])
    mask = sprites.rasterise([a, a + 10.0], (16, 16), 1.0, (0.0, 0.0))
    assert mask[2, 2] and mask[12, 12] and not mask[8, 8]
    assert mask.sum() == 2 * 16


def test_silhouette_mask_spans_twice_the_radius():
    sil = np.ones((40, 80), bool)
    m = sprites.silhouette_mask(sil, radius=20.0)
    x0, x1, y0, y1 = m.extent()
    np.testing.assert_allclose([x1 - x0, y1 - y0], [40.0, 20.0])


def test_silhouette_grid_is_uniform_with_spacing_d():
    grid, gap = sprites.silhouette_grid((40, 80), 20.0, 4)
    assert grid.shape == (16, 2)
    xs, ys = np.unique(grid[:, 0]), np.unique(grid[:, 1])
    np.testing.assert_allclose(np.diff(xs), 40 / 3)
    np.testing.assert_allclose(np.diff(ys), 20 / 3)
    assert gap == min(40 / 3, 20 / 3)


def test_side_counts_are_not_biased_by_the_vertex_distance_rejection():
    rng = np.random.default_rng(1)
    sides = [len(sprites.sample_polygon(rng, (3, 10), 30.0, 0.35, False)) for _ in range(700)]
    counts = np.bincount(sides, minlength=11)[4:]  # non-convex: 4 sides or more
    assert counts.min() > 60  # 100 expected per count
