"""Tests of oclr.tables: pooled means, percentages and fixed-width rows of the score tables."""

import math

import pytest
from oclr.tables import Column, mean_or_nan, percent, pooled_means, table_header, table_row


def test_percent_shows_one_decimal_and_a_dash_for_no_value():
    assert percent(0.5321) == "53.2"
    assert percent(1.0) == "100.0"
    assert percent(-0.05) == "-5.0"
    assert percent(float("nan")) == "-" and percent(None) == "-"


def test_mean_or_nan_ignores_nan_and_is_nan_when_nothing_is_left():
    assert mean_or_nan([1.0, float("nan"), 0.0]) == 0.5
    assert math.isnan(mean_or_nan([]))
    assert math.isnan(mean_or_nan([float("nan"), float("nan")]))


def test_pooled_means_averages_each_key_over_all_objects_in_the_given_order():
    objects = [{"a": 1.0, "b": 0.0}, {"a": 0.0, "b": float("nan")}, {"a": 0.5, "b": 1.0}]
    out = pooled_means(objects, ("b", "a"))
    assert list(out) == ["b", "a"]
    assert out == {"b": 0.5, "a": 0.5}
    assert math.isnan(pooled_means([], ("a",))["a"])


def test_cells_are_padded_to_their_column_and_only_clipped_columns_cut_long_values():
    name, count = Column("name", 6, "<", clip=True), Column("n", 3)
    assert table_header([name, count]) == "name     n"
    assert table_row([name, count], ["a-long-name", 7]) == "a-long   7"
    assert table_row([name, count], ["ab", 12345]) == "ab     12345"  # numbers widen, not cut


def test_a_dash_lines_up_with_the_numbers_of_its_column():
    col = Column("J", 5)
    assert [table_row([col], [percent(x)]) for x in (0.5, float("nan"))] == [" 50.0", "    -"]


def test_a_row_needs_one_cell_per_column():
    with pytest.raises(ValueError):
        table_row([Column("a", 2), Column("b", 2)], [1])
