"""Tests of oclr.assignment: optimal one-to-one assignment of rows to columns."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from oclr.assignment import column_for_each_row, optimal_assignment, row_for_each_column


def brute_force_best(score: np.ndarray, maximize: bool) -> float:
    """Best total over every one-to-one set of min(R, C) pairs, by enumeration."""
    s = score if score.shape[0] <= score.shape[1] else score.T
    totals = [s[np.arange(len(s)), list(cols)].sum()
              for cols in itertools.permutations(range(s.shape[1]), s.shape[0])]
    return max(totals) if maximize else min(totals)


def test_a_square_matrix_is_assigned_to_its_largest_total_when_maximising():
    score = np.array([[1.0, 5.0, 0.0], [4.0, 1.0, 0.0], [0.0, 0.0, 3.0]])
    rows, cols = optimal_assignment(score, maximize=True)
    assert rows.tolist() == [0, 1, 2] and cols.tolist() == [1, 0, 2]


def test_minimising_picks_the_smallest_total_instead():
    cost = np.array([[1.0, 5.0], [4.0, 1.0]])
    assert optimal_assignment(cost, maximize=False)[1].tolist() == [0, 1]
    assert optimal_assignment(cost, maximize=True)[1].tolist() == [1, 0]


def test_a_wide_matrix_assigns_every_row_and_leaves_extra_columns_out():
    score = np.array([[0.1, 0.2, 0.9, 0.0], [0.8, 0.1, 0.7, 0.0]])  # (2, 4)
    rows, cols = optimal_assignment(score, maximize=True)
    assert rows.tolist() == [0, 1] and cols.tolist() == [2, 0]
    assert column_for_each_row(score, maximize=True).tolist() == [2, 0]


def test_a_tall_matrix_assigns_every_column_and_leaves_extra_rows_out():
    score = np.array([[0.1, 0.2], [0.9, 0.3], [0.2, 0.8]])  # (3, 2): 3 predictions, 2 objects
    rows, cols = optimal_assignment(score, maximize=True)
    assert rows.tolist() == [1, 2] and cols.tolist() == [0, 1]
    assert row_for_each_column(score, maximize=True).tolist() == [1, 2]


def test_each_side_refuses_a_matrix_it_cannot_cover():
    with pytest.raises(ValueError, match="rows >= columns"):
        row_for_each_column(np.zeros((2, 3)), maximize=True)
    with pytest.raises(ValueError, match="rows <= columns"):
        column_for_each_row(np.zeros((3, 2)), maximize=True)
    with pytest.raises(ValueError, match="2-D"):
        optimal_assignment(np.zeros(3), maximize=True)


def test_prefer_diagonal_keeps_rows_on_their_own_column_when_scores_tie():
    flat = np.zeros((3, 3))
    for maximize in (True, False):
        cols = optimal_assignment(flat, maximize=maximize, prefer_diagonal=1e-6)[1]
        assert cols.tolist() == [0, 1, 2]


def test_prefer_diagonal_does_not_override_a_real_difference():
    score = np.array([[0.0, 0.5], [0.5, 0.0]])
    assert column_for_each_row(score, maximize=True, prefer_diagonal=1e-6).tolist() == [1, 0]
    assert column_for_each_row(-score, maximize=False, prefer_diagonal=1e-6).tolist() == [1, 0]


def test_the_result_is_int64_whatever_the_score_dtype():
    score = np.eye(3, dtype=np.float32)
    rows, cols = optimal_assignment(score, maximize=True)
    assert rows.dtype == cols.dtype == np.int64
    assert row_for_each_column(score, maximize=True).dtype == np.int64


small_matrices = st.tuples(st.integers(1, 4), st.integers(1, 4)).flatmap(
    lambda shape: arrays(np.float64, shape, elements=st.integers(-3, 3).map(float)))


@settings(max_examples=200, deadline=None)
@given(score=small_matrices, maximize=st.booleans())
def test_the_assignment_is_one_to_one_and_as_good_as_brute_force(score, maximize):
    rows, cols = optimal_assignment(score, maximize=maximize)
    assert len(rows) == len(cols) == min(score.shape)
    assert len(set(rows.tolist())) == len(rows) and len(set(cols.tolist())) == len(cols)
    assert rows.tolist() == sorted(rows.tolist())
    assert score[rows, cols].sum() == pytest.approx(brute_force_best(score, maximize))


@settings(max_examples=100, deadline=None)
@given(score=small_matrices)
def test_row_for_each_column_of_the_transpose_gives_an_optimal_column_for_each_row(score):
    wide = score if score.shape[0] <= score.shape[1] else score.T
    cols = column_for_each_row(wide, maximize=True)
    rows = row_for_each_column(wide.T, maximize=True)
    best = brute_force_best(wide, True)
    assert wide[np.arange(len(wide)), cols].sum() == pytest.approx(best)
    assert wide.T[rows, np.arange(len(wide))].sum() == pytest.approx(best)
