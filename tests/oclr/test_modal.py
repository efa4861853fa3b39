"""Tests of oclr.modal.compose_modal: front-to-back composition, paper eq. (2)."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from oclr.modal import compose_modal


def _eq2_reference(amodal: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Paper eq. (2) as written: M_k = (1 - alpha_k) * A_k, alpha_k = clip(alpha_{k-1} + M_{k-1}),
    over layers sorted front to back. amodal (K, H, W) binary, order (K,) -> labels (H, W)."""
    alpha, labels = np.zeros(amodal.shape[1:]), np.zeros(amodal.shape[1:], np.int64)
    for k in np.argsort(order, kind="stable"):
        modal = (1 - alpha) * amodal[k]
        labels[modal > 0] = k + 1
        alpha = np.clip(alpha + modal, 0, 1)
    return labels


def test_front_object_wins_where_two_layers_overlap():
    prob = torch.zeros(2, 4, 4)
    prob[0, :3, :3] = 0.9
    prob[1, 1:, 1:] = 0.9
    labels = compose_modal(prob, torch.tensor([0.3, -1.0]))  # layer 1 in front
    assert labels[2, 2] == 2 and labels[0, 0] == 1 and labels[3, 0] == 0
    labels = compose_modal(prob, torch.tensor([-1.0, 0.3]))  # layer 0 in front
    assert labels[2, 2] == 1 and labels[3, 3] == 2


def test_amodal_probabilities_are_thresholded_at_one_half_by_default():
    prob = torch.tensor([[[0.49, 0.5, 0.51, 0.9]]])  # K = 1, H = 1, W = 4
    assert compose_modal(prob, torch.zeros(1)).tolist() == [[0, 0, 1, 1]]
    assert compose_modal(prob, torch.zeros(1), threshold=0.7).tolist() == [[0, 0, 0, 1]]


@settings(max_examples=25, deadline=None)
@given(amodal=arrays(np.bool_, (3, 5, 6)), order=st.permutations([0.0, 1.0, 2.0]))
def test_composition_equals_the_papers_front_to_back_blending(amodal, order):
    labels = compose_modal(amodal.astype(np.float32), np.array(order))
    assert isinstance(labels, np.ndarray)
    np.testing.assert_array_equal(labels, _eq2_reference(amodal, np.array(order)))


def test_one_order_per_clip_broadcasts_over_its_frames():
    torch.manual_seed(0)
    prob = torch.rand(2, 5, 3, 8, 8)  # (B, T, K, H, W)
    order = torch.randn(2, 3)  # (B, K)
    labels = compose_modal(prob, order)
    assert labels.shape == (2, 5, 8, 8) and labels.dtype == torch.int64
    for b in range(2):
        for t in range(5):
            assert torch.equal(labels[b, t], compose_modal(prob[b, t], order[b]))
    per_frame = compose_modal(prob, order[:, None].expand(2, 5, 3))
    assert torch.equal(per_frame, labels)


def test_an_order_that_does_not_fit_is_refused():
    with pytest.raises(ValueError, match="does not fit"):
        compose_modal(torch.zeros(2, 5, 3, 4, 4), torch.zeros(5, 3))
    with pytest.raises(ValueError, match="does not fit"):
        compose_modal(torch.zeros(3, 4, 4), torch.zeros(2))
