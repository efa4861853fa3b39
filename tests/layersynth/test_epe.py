"""End-point error, object-boundary masks and the EPE meter over many sequences."""

import numpy as np
import pytest
from layersynth.estimators.epe import EpeMeter, boundary_mask, endpoint_error


def test_endpoint_error_is_the_mean_vector_distance_over_the_mask():
    gt = np.zeros((2, 2, 4, 5, 2), np.float32)
    est = gt.copy()
    est[0, :, 0, 0] = [3.0, 4.0]  # error 5 px at one pixel of frame 0, both gaps
    mask = np.zeros((2, 4, 5), bool)
    mask[0, 0, :2] = True
    assert endpoint_error(est, gt) == pytest.approx(10 / 80)
    assert endpoint_error(est, gt, mask) == pytest.approx(2.5)
    assert np.isnan(endpoint_error(est, gt, np.zeros((2, 4, 5), bool)))


def test_flows_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match="shapes differ"):
        endpoint_error(np.zeros((2, 3, 2)), np.zeros((2, 4, 2)))


def test_boundary_mask_marks_pixels_within_the_width_of_a_label_change():
    modal = np.zeros((1, 9, 12), np.uint8)
    modal[0, :, 6:] = 2
    got = boundary_mask(modal, width=2)[0]
    cols = np.flatnonzero(got[4])
    np.testing.assert_array_equal(cols, [4, 5, 6, 7])  # 2 px either side of the edge at 5|6
    assert got.all(axis=0)[cols].all()
    assert not boundary_mask(np.ones((2, 5, 5), np.uint8)).any()


def test_epe_meter_weighs_sequences_by_their_pixels():
    meter = EpeMeter(width=1)
    modal = np.zeros((2, 4, 4), np.uint8)
    modal[:, :, 2:] = 1
    gt = np.zeros((2, 2, 4, 4, 2), np.float32)
    meter.add(gt + [1.0, 0.0], gt, modal)
    meter.add(np.zeros((2, 2, 4, 8, 2), np.float32), np.zeros((2, 2, 4, 8, 2), np.float32),
              np.zeros((2, 4, 8), np.uint8))
    out = meter.result()
    assert out["pixels"] == 64 + 128
    assert out["epe"] == pytest.approx(64 / 192)
    assert out["epe_boundary"] == pytest.approx(1.0)  # only the first sequence has boundaries
