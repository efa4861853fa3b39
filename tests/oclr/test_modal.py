"""Tests of oclr.modal: front-to-back composition, paper eq. (2), hard and soft."""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from oclr.modal import compose_modal, depth_orders, modal_targets, order_weights, soft_modal


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


def _soft_modal_brute(prob: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """prob (K, N), scores (K,): the average over all K! orders, each weighted by the normalised
    product over its pairs (a in front of b) of sigmoid(r_b - r_a), of the visible part."""
    k = len(scores)
    out, total = np.zeros_like(prob), 0.0
    for order in itertools.permutations(range(k)):
        w = np.prod([1 / (1 + np.exp(-(scores[b] - scores[a])))
                     for i, a in enumerate(order) for b in order[i + 1:]])
        clear = np.ones(prob.shape[1])
        for layer in order:
            out[layer] += w * prob[layer] * clear
            clear = clear * (1 - prob[layer])
        total += w
    return out / total


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 4))
def test_soft_modal_equals_the_weighted_average_over_every_depth_order(seed, k):
    rng = np.random.default_rng(seed)
    prob, scores = rng.random((k, 5)), rng.normal(size=k) * 2
    got = soft_modal(torch.tensor(prob).reshape(1, 1, k, 1, 5), torch.tensor(scores)[None])
    np.testing.assert_allclose(got.reshape(k, 5).numpy(), _soft_modal_brute(prob, scores),
                               rtol=1e-9, atol=1e-12)


def test_order_weights_sum_to_one_and_favour_the_order_the_scores_give():
    w = order_weights(torch.tensor([[2.0, -3.0, 0.5]]), depth_orders(3), 1.0)
    assert w.sum().item() == pytest.approx(1.0)
    assert depth_orders(3)[w.argmax()].tolist() == [1, 2, 0]  # lowest score nearest


def test_soft_modal_of_binary_masks_with_sure_scores_is_the_hard_composite():
    rng = np.random.default_rng(0)
    amodal = (rng.random((2, 3, 6, 7)) > 0.5).astype(np.float64)  # (T, K, H, W)
    scores = np.array([5.0, -40.0, 40.0])
    soft = soft_modal(torch.tensor(amodal)[None], torch.tensor(scores)[None])[0]
    labels = compose_modal(amodal, scores)
    hard = np.stack([labels == k + 1 for k in range(3)], axis=1)
    np.testing.assert_allclose(soft.numpy(), hard, atol=1e-6)


def test_modal_targets_are_the_composite_of_the_ground_truth_and_skip_padding():
    rng = np.random.default_rng(1)
    amodal = torch.tensor(rng.random((1, 2, 3, 6, 7)) > 0.4)
    rank = torch.tensor([[2, 0, 1]])
    valid = torch.tensor([[True, True, False]])
    got = modal_targets(amodal.float(), rank, valid)[0]
    masked = amodal[0].clone()
    masked[:, 2] = False
    labels = compose_modal(masked.float().numpy(), rank[0].float().numpy())
    want = np.stack([labels == k + 1 for k in range(3)], axis=1)
    np.testing.assert_array_equal(got.numpy(), want)


def test_soft_modal_with_scores_per_frame_composes_each_frame_by_its_own():
    g = torch.Generator().manual_seed(3)
    prob = torch.rand(2, 3, 3, 4, 5, generator=g)
    scores = torch.randn(2, 3, 3, generator=g)  # (B, T, K)
    got = soft_modal(prob, scores, 0.5)
    for t in range(3):
        want = soft_modal(prob[:, t:t + 1], scores[:, t], 0.5)[:, 0]
        torch.testing.assert_close(got[:, t], want)
    assert not torch.allclose(got[:, 0], soft_modal(prob, scores[:, 1], 0.5)[:, 0])


def test_modal_targets_with_ranks_per_frame_follow_each_frame_s_order():
    target = torch.ones(1, 2, 2, 1, 2)  # two layers covering both pixels at both frames
    target[0, :, 1, 0, 1] = 0  # layer 1 leaves pixel 1
    rank = torch.tensor([[[0, 1], [1, 0]]])  # layer 0 in front at frame 0, behind at frame 1
    got = modal_targets(target, rank, torch.ones(1, 2, dtype=torch.bool))
    assert got[0, 0].tolist() == [[[1.0, 1.0]], [[0.0, 0.0]]]
    assert got[0, 1].tolist() == [[[0.0, 1.0]], [[1.0, 0.0]]]
    clip = modal_targets(target, rank[:, 0], torch.ones(1, 2, dtype=torch.bool))
    torch.testing.assert_close(clip, modal_targets(target, rank[:, [0, 0]],
                                                   torch.ones(1, 2, dtype=torch.bool)))


def test_per_frame_composition_of_the_true_amodal_masks_is_the_renderer_s_modal_labels(
        reorder_shards):
    from layersynth import open_dataset

    with open_dataset(reorder_shards) as ds:
        seqs = [ds[sid] for sid in ds.ids]
    changed = 0
    for seq in seqs:
        amodal = seq["amodal"].transpose(1, 0, 2, 3).astype(np.float32)  # (T, K, H, W)
        order = seq["order"].astype(np.float32)  # (T, K) ranks: lower = nearer
        np.testing.assert_array_equal(compose_modal(amodal, order), seq["modal"])
        one_order = compose_modal(amodal, order[0])
        changed += int((one_order != seq["modal"]).any())
    assert changed > 0  # the first frame's order alone gets some frames wrong
