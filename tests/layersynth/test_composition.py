import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from layersynth.render.composition import modal_from_amodal, occlusion_fraction


def test_front_layer_hides_the_one_behind_and_the_occluder_hides_both():
    amodal = np.zeros((2, 1, 1, 4), bool)
    amodal[0, 0, 0] = [True, True, False, False]
    amodal[1, 0, 0] = [False, True, True, True]
    occluder = np.zeros((1, 1, 4), bool)
    occluder[0, 0, 3] = True
    modal = modal_from_amodal(amodal, occluder)
    assert modal[0, 0].tolist() == [1, 1, 2, 0]


def test_occlusion_fraction_counts_hidden_object_pixels():
    amodal = np.zeros((2, 1, 1, 4), bool)
    amodal[0, 0, 0] = [True, True, False, False]
    amodal[1, 0, 0] = [False, True, True, True]
    modal = np.array([[[1, 1, 2, 0]]], np.uint8)
    assert occlusion_fraction(amodal, modal) == 2 / 5  # layer 1 loses one pixel to each


def test_no_object_area_gives_zero():
    assert occlusion_fraction(np.zeros((2, 3, 4, 5), bool), np.zeros((3, 4, 5), np.uint8)) == 0.0


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.integers(0, 10_000), st.booleans())
def test_composed_modal_masks_are_disjoint_and_inside_amodal(k, seed, with_occluder):
    rng = np.random.default_rng(seed)
    amodal = rng.random((k, 2, 6, 7)) < 0.4
    occluder = rng.random((2, 6, 7)) < 0.2 if with_occluder else None
    modal = modal_from_amodal(amodal, occluder)
    for layer in range(k):
        assert np.all(amodal[layer][modal == layer + 1])
        nearer = amodal[:layer].any(0) | (False if occluder is None else occluder)
        assert np.array_equal(modal == layer + 1, amodal[layer] & ~nearer)
    fraction = occlusion_fraction(amodal, modal)
    hidden = sum((amodal[i] & (modal != i + 1)).sum() for i in range(k))
    assert 0.0 <= fraction <= 1.0
    assert np.isclose(fraction, hidden / max(amodal.sum(), 1))
