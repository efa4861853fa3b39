import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oclr.windows import overlapping_windows, reference_windows, shared_frames, slots_of


def owners(windows, n):
    owner = np.full(n, -1)
    for i, w in enumerate(windows):
        assert np.all(owner[w.own_start:w.own_stop] == -1)
        owner[w.own_start:w.own_stop] = i
    return owner


def test_reference_windows_do_not_overlap_and_the_last_is_aligned_to_the_end():
    windows = reference_windows(75, size=30)
    assert [w.start for w in windows] == [0, 30, 45]
    assert windows[-1].indices[-1] == 74
    assert (windows[-1].own_start, windows[-1].own_stop) == (60, 75)


def test_a_video_that_fills_whole_windows_gets_no_extra_window():
    assert [w.start for w in reference_windows(60, size=30)] == [0, 30]


def test_a_short_video_is_padded_by_repeating_its_last_frame():
    (window,) = reference_windows(4, size=6)
    assert window.indices.tolist() == [0, 1, 2, 3, 3, 3]
    assert (window.own_start, window.own_stop) == (0, 4)
    (window,) = overlapping_windows(4, size=6, overlap=2)
    assert window.indices.tolist() == [0, 1, 2, 3, 3, 3]


def test_overlapping_windows_share_at_least_the_overlap_and_switch_owner_mid_overlap():
    windows = overlapping_windows(50, size=30, overlap=10)
    assert [w.start for w in windows] == [0, 20]
    assert shared_frames(*windows).tolist() == list(range(20, 30))
    assert windows[0].own_stop == windows[1].own_start == 25


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 200), size=st.integers(1, 40), data=st.data())
def test_every_frame_is_owned_by_exactly_one_window_that_covers_it(n, size, data):
    overlap = data.draw(st.integers(0, size - 1))
    for windows in (reference_windows(n, size), overlapping_windows(n, size, overlap)):
        owner = owners(windows, n)
        assert np.all(owner >= 0)
        for w in windows:
            assert len(w.indices) == size and w.indices.max() <= n - 1
            assert w.start <= w.own_start and w.own_stop <= w.stop
            slots = np.arange(w.size)[w.owned_slots]
            assert np.array_equal(w.indices[slots], np.arange(w.own_start, w.own_stop))
    overlapping = overlapping_windows(n, size, overlap)
    for a, b in zip(overlapping, overlapping[1:], strict=False):
        assert len(shared_frames(a, b)) >= overlap


def test_slots_of_refuses_frames_outside_the_window():
    window = overlapping_windows(50, size=30, overlap=10)[1]
    assert slots_of(window, np.array([20, 49])).tolist() == [0, 29]
    with pytest.raises(ValueError):
        slots_of(window, np.array([19]))


def test_bad_plans_are_refused():
    with pytest.raises(ValueError):
        reference_windows(0)
    with pytest.raises(ValueError):
        overlapping_windows(10, size=5, overlap=5)
