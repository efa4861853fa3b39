import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oclr.metrics import (
    boundary_f,
    boundary_map,
    boundary_tolerance,
    decay_bins,
    disk,
    f_from_counts,
    frame_scores,
    jaccard,
    match_ids_by_jf,
    series_stats,
)
from skimage.morphology import disk as skimage_disk


def square(shape=(100, 100), top=10, left=10, size=10):
    m = np.zeros(shape, bool)
    m[top : top + size, left : left + size] = True
    return m


@pytest.mark.parametrize("r", range(0, 12))
def test_disk_equals_skimage_disk(r):
    np.testing.assert_array_equal(disk(r), skimage_disk(r).astype(np.uint8))


def test_boundary_tolerance_is_ceil_of_0_008_diagonal():
    assert boundary_tolerance(480, 854) == 8
    assert boundary_tolerance(100, 100) == 2  # 0.008 * 141.4 = 1.13
    assert boundary_tolerance(1080, 1920) == math.ceil(0.008 * math.hypot(1080, 1920))


def test_boundary_map_of_a_square_is_outer_top_left_and_inner_bottom_right():
    m = np.zeros((5, 5), bool)
    m[1:3, 1:3] = True
    expected = np.array(
        [[1, 1, 1, 0, 0], [1, 0, 1, 0, 0], [1, 1, 1, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]],
        bool,
    )
    np.testing.assert_array_equal(boundary_map(m), expected)


def test_boundary_map_last_row_and_column_use_one_neighbour_and_corner_is_never_boundary():
    m = np.zeros((3, 3), bool)
    m[2, 2] = True  # only the bottom-right pixel
    expected = np.zeros((3, 3), bool)
    expected[1, 1] = expected[1, 2] = expected[2, 1] = True
    np.testing.assert_array_equal(boundary_map(m), expected)
    assert not boundary_map(np.ones((4, 6), bool)).any()


def test_boundary_map_works_on_a_stack_of_frames():
    stack = np.stack([square((20, 20), 2, 3, 5), square((20, 20), 8, 1, 7)])
    out = boundary_map(stack)
    np.testing.assert_array_equal(out[1], boundary_map(stack[1]))
    assert out[0].sum() == 4 * 5


def test_jaccard_of_squares_shifted_by_two_pixels_is_two_thirds():
    gt = square()
    pred = square(left=12)  # intersection 10 x 8 = 80, union 120
    assert jaccard(pred, gt) == pytest.approx(2 / 3)


def test_jaccard_is_one_for_two_empty_masks_and_zero_for_an_empty_prediction():
    empty = np.zeros((100, 100), bool)
    assert jaccard(empty, empty) == 1.0
    assert jaccard(empty, square()) == 0.0
    assert jaccard(square(), empty) == 0.0


def test_jaccard_excludes_void_pixels_from_intersection_and_union():
    gt = square()
    pred = gt | square(top=60, left=60)
    void = square(top=60, left=60)
    assert jaccard(pred, gt, void) == 1.0
    pred = gt.copy()
    pred[10:20, 20:22] = True  # 20 extra pixels, 10 of them void
    void = np.zeros_like(gt)
    void[10:15, 20:22] = True
    assert jaccard(pred, gt, void) == pytest.approx(100 / 110)


def test_jaccard_accepts_a_stack_of_frames():
    gt = np.stack([square(), square()])
    pred = np.stack([square(), square(left=12)])
    np.testing.assert_allclose(jaccard(pred, gt), [1.0, 2 / 3])


def band(shift, shape=(100, 100)):
    m = np.zeros(shape, bool)
    m[40 + shift : 60 + shift] = True
    return m


@pytest.mark.parametrize("shift, expected", [(0, 1.0), (1, 1.0), (2, 1.0), (3, 0.0), (5, 0.0)])
def test_boundary_f_matches_within_the_tolerance_radius_and_not_beyond(shift, expected):
    # 100 x 100: radius 2; the band's boundaries are two full rows, `shift` rows from the GT's
    assert boundary_f(band(shift), band(0)) == expected


def test_boundary_f_tolerance_is_eight_pixels_at_davis_resolution():
    assert boundary_f(band(8, (480, 854)), band(0, (480, 854))) == 1.0
    assert boundary_f(band(9, (480, 854)), band(0, (480, 854))) == 0.0


def test_boundary_f_with_an_extra_far_square_has_precision_half_and_f_two_thirds():
    gt = square()
    pred = gt | square(top=60, left=60)
    assert boundary_f(pred, gt) == pytest.approx(2 / 3)
    assert boundary_f(square(top=60, left=60), gt) == 0.0


def test_boundary_f_empty_cases_follow_davis():
    empty = np.zeros((100, 100), bool)
    assert boundary_f(empty, empty) == 1.0
    assert boundary_f(empty, square()) == 0.0
    assert boundary_f(square(), empty) == 0.0
    assert f_from_counts(0, 10, 0, 0) == 0.0  # P = 1, R = 0
    assert f_from_counts(10, 0, 0, 0) == 0.0  # P = 0, R = 1
    assert f_from_counts(10, 20, 5, 10) == pytest.approx(0.5)


def test_boundary_f_ignores_predictions_on_void_pixels():
    far = square(top=60, left=60)
    assert boundary_f(square() | far, square(), void=far) == 1.0


def random_labels(rng, shape, n_ids, n_rects, void=False):
    labels = np.zeros(shape, np.uint8)
    for _ in range(n_rects):
        y, x = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        h, w = rng.integers(1, shape[0] // 2 + 2), rng.integers(1, shape[1] // 2 + 2)
        labels[y : y + h, x : x + w] = rng.integers(1, n_ids + 1)
    if void:
        y, x = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        labels[y : y + 6, x : x + 9] = 255
    return labels


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([(30, 40), (17, 53), (64, 64)]))
def test_fast_frame_scores_equal_the_plain_definitions_on_random_masks(seed, shape):
    rng = np.random.default_rng(seed)
    gt = random_labels(rng, shape, 3, 4, void=True)
    pred = random_labels(rng, shape, 4, 5)
    j, f = frame_scores(pred, gt, 4, 3, radius=2)
    void = gt == 255
    for a in range(4):
        for b in range(3):
            p, g = pred == a + 1, gt == b + 1
            assert j[a, b] == pytest.approx(float(jaccard(p, g, void)))
            assert f[a, b] == pytest.approx(boundary_f(p, g, void, radius=2))


def test_frame_scores_treat_gt_ids_beyond_n_gt_as_background():
    gt = np.zeros((100, 100), np.uint8)
    gt[square()] = 1
    gt[square(top=60, left=60)] = 2
    pred = np.where(square(), 1, 0).astype(np.uint8)
    j, f = frame_scores(pred, gt, 1, 1)
    assert j[0, 0] == 1.0 and f[0, 0] == 1.0


def test_decay_bins_are_davis_rounded_linspace_edges_including_the_right_edge():
    assert decay_bins(8) == [slice(0, 3), slice(2, 5), slice(4, 6), slice(5, 8)]
    assert decay_bins(4) == [slice(0, 2), slice(1, 3), slice(2, 3), slice(2, 4)]


def test_series_stats_mean_recall_is_strictly_above_half_and_decay_first_minus_last_bin():
    stats = series_stats(np.array([1, 1, 1, 1, 0, 0, 0, 0], float))
    assert (stats.mean, stats.recall, stats.decay) == (0.5, 0.5, 1.0)
    assert series_stats(np.array([0.5, 0.51])).recall == 0.5
    assert series_stats(np.array([0.7])).decay == 0.0


def test_series_stats_mean_ignores_nan_frames():
    assert series_stats(np.array([np.nan, 0.5, 1.0])).mean == pytest.approx(0.75)


def test_matching_picks_the_permutation_with_the_best_mean_j_and_f():
    # pred 1 fits GT 2 and pred 2 fits GT 1; pred 3 is a weaker rival for GT 1
    j = np.zeros((3, 2, 4))
    j[0, 1], j[1, 0], j[2, 0] = 0.9, 0.8, 0.7
    f = j.copy()
    j[0, 0] = f[0, 0] = 0.95  # greedy would take pred 1 for GT 1 and lose more on GT 2
    m = match_ids_by_jf(j, f)
    np.testing.assert_array_equal(m.pred_ids, [2, 1])
    np.testing.assert_allclose(m.j[:, 0], [0.8, 0.9])


def test_matching_refuses_fewer_predictions_than_objects():
    with pytest.raises(ValueError, match="pad"):
        match_ids_by_jf(np.zeros((1, 2, 3)), np.zeros((1, 2, 3)))
