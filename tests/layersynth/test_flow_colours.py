import numpy as np
from layersynth.viz.flow_colours import colour_wheel, flow_to_rgb


def test_zero_flow_is_white_and_shape_follows_the_input():
    rgb = flow_to_rgb(np.zeros((2, 4, 5, 2), np.float32))
    assert rgb.shape == (2, 4, 5, 3) and rgb.dtype == np.uint8
    assert (rgb == 255).all()


def test_opposite_directions_get_different_hues_and_full_magnitude_is_saturated():
    flow = np.array([[[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]]], np.float32)
    rgb = flow_to_rgb(flow).astype(int)
    assert len({tuple(c) for c in rgb[0]}) == 4
    assert (rgb.min(axis=-1) <= 1).all()  # saturated: one channel near zero


def test_a_fixed_max_magnitude_makes_small_flow_paler():
    flow = np.array([[[1.0, 0.0]]], np.float32)
    pale = flow_to_rgb(flow, max_mag=10.0).astype(int)
    strong = flow_to_rgb(flow, max_mag=1.0).astype(int)
    assert pale.min() > strong.min()


def test_the_wheel_has_55_distinct_colours_in_unit_range():
    wheel = colour_wheel()
    assert wheel.shape == (55, 3) and wheel.min() >= 0 and wheel.max() <= 1
    assert len({tuple(c) for c in np.round(wheel, 6)}) == 55
