"""One homography per frame fitted to the background flow: exact for a homography field, the
known residual for a two-plane field, no fit without enough background."""

import numpy as np
import pytest
from layersynth.viz.background_fit import MIN_POINTS, fit_background, homography_flow

H, W = 24, 40


def field_of(hom: np.ndarray) -> np.ndarray:
    """(H, W, 2) flow x -> hom(x) - x at the pixel centres, computed pixel by pixel."""
    flow = np.zeros((H, W, 2))
    for y in range(H):
        for x in range(W):
            p = hom @ np.array([x, y, 1.0])
            flow[y, x] = p[:2] / p[2] - (x, y)
    return flow


PERSPECTIVE = np.array([[1.01, 0.02, 1.5], [-0.015, 0.99, -0.7], [2e-4, -1e-4, 1.0]])


def test_the_flow_of_a_homography_is_taken_at_pixel_centres_x_along_w_y_along_h():
    flow = homography_flow(PERSPECTIVE, H, W)
    assert flow.shape == (H, W, 2) and flow.dtype == np.float32
    assert np.abs(flow - field_of(PERSPECTIVE)).max() < 1e-5


@pytest.mark.parametrize("hom", [np.eye(3), PERSPECTIVE,
                                 np.array([[1, 0, 0.4], [0, 1, -1.25], [0, 0, 1.0]])])
def test_a_homography_field_leaves_no_residual_and_is_predicted_everywhere(hom):
    flow = field_of(hom)[None]
    background = np.ones((1, H, W), bool)
    background[0, 5:15, 10:30] = False  # an object hides part of the background
    fit = fit_background(flow, background)
    assert fit.residual[0] < 1e-4
    assert np.abs(fit.predicted[0] - flow[0]).max() < 1e-3  # under the object too
    assert fit.error[0].max() < 1e-3


def test_two_planes_leave_the_minor_planes_offset_times_its_share():
    flow = np.zeros((1, H, W, 2))
    flow[0, :, :28] = (1.0, 0.0)  # far plane: 28 of 40 columns
    flow[0, :, 28:] = (3.0, 0.5)  # near plane: 12 columns, offset |(2, 0.5)|
    fit = fit_background(flow, np.ones((1, H, W), bool))
    assert fit.residual[0] == pytest.approx(12 / 40 * np.hypot(2.0, 0.5), abs=1e-4)
    assert fit.error[0, :, 28:] == pytest.approx(np.hypot(2.0, 0.5), abs=1e-4)


def test_each_frame_is_fitted_on_its_own():
    flow = np.stack([field_of(PERSPECTIVE), field_of(np.eye(3)) + (0.5, 0.0)])
    flow[1, :, :10] += (0.0, 1.0)
    residual = fit_background(flow, np.ones((2, H, W), bool)).residual
    assert residual[0] < 1e-4 and residual[1] == pytest.approx(10 / 40, abs=1e-4)


def test_too_few_background_pixels_give_no_fit_and_the_median_background_flow():
    flow = np.zeros((2, H, W, 2))
    flow[:, :, :, 0] = np.arange(W)  # any field: only the median of the few pixels counts
    background = np.zeros((2, H, W), bool)
    background[0, 0, : MIN_POINTS - 1] = True  # too few; frame 1 has none at all
    fit = fit_background(flow, background)
    assert np.isnan(fit.residual).all()
    assert np.all(fit.predicted[0] == (np.median(np.arange(MIN_POINTS - 1)), 0.0))
    assert np.all(fit.predicted[1] == 0.0)
