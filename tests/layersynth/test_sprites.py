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


def test_silhouette_mask_spans_twice_the_radius_inside_an_uncovered_margin():
    sil = np.ones((40, 80), bool)
    m = sprites.silhouette_mask(sil, radius=20.0)
    cols, rows = np.nonzero(m.mask.any(0))[0], np.nonzero(m.mask.any(1))[0]
    assert (cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1) == (80, 40)  # 2 mask px per canonical
    assert not m.mask[0].any() and not m.mask[:, -1].any()
    x0, x1, y0, y1 = m.extent()
    assert x1 - x0 > 40.0 and y1 - y0 > 20.0
    # The outline lies half way between covered and uncovered mask pixels: x = +-20 canonical.
    sd = m.signed_distance(np.array([[19.0, 0.0], [20.0, 0.0], [20.5, 0.0], [0.0, 0.0]]))
    np.testing.assert_allclose(sd[:3], [1.0, 0.0, -0.5], atol=1e-9)
    assert sd[3] > 9.0


def test_a_polygon_field_is_its_exact_signed_distance():
    square = np.array([[-10.0, -10.0], [10.0, -10.0], [10.0, 10.0], [-10.0, 10.0]])
    m = sprites.polygon_mask([square], scale=2.0)
    pts = np.array([[0.0, 0.0], [9.3, 2.0], [10.7, -3.0], [10.5, 10.5]])
    np.testing.assert_allclose(m.signed_distance(pts), [10.0, 0.7, -0.7, -np.hypot(0.5, 0.5)],
                               atol=1e-9)


def test_silhouette_filaments_and_crumbs_thinner_than_the_opening_are_not_in_the_shape():
    sil = np.zeros((60, 60), bool)
    sil[10:50, 10:50] = True  # the body
    sil[28, 50:58] = True  # a one-pixel filament
    sil[5, 5] = True  # a crumb
    m = sprites.silhouette_mask(sil, radius=30.0, opening=0.75)  # 1 mask px per canonical
    c = np.array([[24.5, -1.5], [-25.5, -25.5], [0.0, 0.0]]) + 0.5  # filament, crumb, body
    assert m.covers(c).tolist() == [False, False, True]


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


def test_a_silhouette_thinner_than_the_opening_everywhere_keeps_its_shape():
    line = np.zeros((40, 40), bool)
    line[20, 4:36] = True  # one mask pixel thick: any opening would remove all of it
    mask = sprites.silhouette_mask(line, radius=20.0, opening=1.5)
    assert mask.mask.sum() == line.sum()  # drawn as it is rather than vanishing
    square = np.zeros((40, 40), bool)
    square[8:32, 8:32] = True
    spur = square.copy()
    spur[20, 32:38] = True  # a shape the opening keeps part of is opened as before
    assert sprites.silhouette_mask(spur, radius=20.0, opening=1.5).mask.sum() == square.sum()
