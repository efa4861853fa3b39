"""Front-to-back composition: the claim rule `compose` runs, the paper's blending it equals, and
the hidden share of object area."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from layersynth.assets.sources import Assets
from layersynth.render.composition import Canvas, compose, modal_from_amodal, occlusion_fraction
from layersynth.render.renderer import render
from layersynth.scene.config import SceneConfig
from layersynth.scene.sampling import sample_scene

ASSETS = Assets.builtin()


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


class MaskLayer:
    """A layer given by its coverage (T, H, W) bool, drawing by the rule of `composition`:
    label 0 an occluder, label k + 1 object layer k."""

    def __init__(self, label, covers):
        self.label, self.covers = label, covers
        self.frames_seen, self.claimed_before = [], []

    def draw(self, t, canvas):
        self.frames_seen.append(t)
        self.claimed_before.append(int(canvas.claimed.sum()))
        covers = self.covers[t]
        free = covers & ~canvas.claimed
        if self.label == 0:
            canvas.occluder[t][free] = True
        else:
            canvas.amodal[self.label - 1, t][covers] = True
            canvas.modal[t][free] = self.label
        canvas.claimed[covers] = True


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.integers(0, 10_000))
def test_composing_layers_nearest_first_equals_the_papers_blending(k, seed):
    rng = np.random.default_rng(seed)
    occluder = MaskLayer(0, rng.random((3, 5, 6)) < 0.2)
    objects = [MaskLayer(i + 1, rng.random((3, 5, 6)) < 0.4) for i in range(k)]
    canvas = compose([occluder, *objects], Canvas.empty(3, 5, 6, k, shade_on=False))
    amodal = np.stack([o.covers for o in objects])
    assert np.array_equal(canvas.amodal, amodal)
    assert np.array_equal(canvas.modal, modal_from_amodal(amodal, occluder.covers))
    assert np.array_equal(canvas.occluder, occluder.covers)
    assert occluder.frames_seen == objects[-1].frames_seen == [0, 1, 2]


def test_the_claims_of_one_frame_do_not_reach_the_next():
    full = MaskLayer(1, np.ones((2, 3, 4), bool))
    second = MaskLayer(2, np.ones((2, 3, 4), bool))
    canvas = compose([full, second], Canvas.empty(2, 3, 4, 2, shade_on=False))
    assert full.claimed_before == [0, 0] and second.claimed_before == [12, 12]
    assert (canvas.modal == 1).all() and canvas.amodal[1].all()


def test_an_empty_canvas_has_the_sequence_shapes_and_one_pixel_dummies_for_masks_only():
    full = Canvas.empty(4, 6, 7, 2, shade_on=True)
    assert full.rgb.shape == (4, 6, 7, 3) and full.flow.shape == (4, 2, 6, 7, 2)
    assert full.amodal.shape == (2, 4, 6, 7) and full.modal.shape == full.occluder.shape
    assert full.claimed.shape == (6, 7) and full.flow.dtype == np.float32
    colour, trans, flow = full.colour_and_flow(3)
    assert colour.shape == (6, 7, 3) and trans.shape == (6, 7) and flow.shape == (2, 6, 7, 2)
    masks = Canvas.empty(4, 6, 7, 2, shade_on=False)
    assert masks.rgb.shape == (1, 1, 1, 3) and masks.colour_and_flow(3)[2].shape == (2, 1, 1, 2)
    assert masks.colour_and_flow(3)[1].shape == (1, 1)


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_modal_label_is_the_front_most_covering_layer_unless_an_occluder_covers_it(seed):
    cfg = SceneConfig.preset("tiny", occluder_prob=0.5)
    s = render(sample_scene(np.random.default_rng(seed), cfg, ASSETS), ASSETS)
    assert np.array_equal(s.modal, modal_from_amodal(s.amodal, s.occluder))
    for k in range(s.amodal.shape[0]):
        assert np.all(s.amodal[k][s.modal == k + 1])  # each modal mask inside its amodal mask
    assert np.all(s.modal[s.occluder] == 0)
