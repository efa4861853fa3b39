"""Tests of oclr.matching: one Hungarian assignment per clip."""

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from oclr.matching import (
    HungarianMatcher,
    apply_permutation,
    bce_cost,
    dice_cost,
    hungarian_match,
    hungarian_match_batch,
)


def _clip(seed: int, t: int = 3, k: int = 3, size: int = 8) -> torch.Tensor:
    """(T, K, H, W) random binary masks, one empty channel."""
    g = torch.Generator().manual_seed(seed)
    target = (torch.rand(t, k, size, size, generator=g) > 0.6).float()
    target[:, -1] = 0
    return target


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), perm=st.permutations([0, 1, 2]))
def test_matching_recovers_the_permutation_of_shuffled_predictions(seed, perm):
    target = _clip(seed)
    perm = torch.tensor(perm)
    logits = (target * 8 - 4)[:, torch.argsort(perm)]  # prediction perm[j] holds target j
    found = hungarian_match(logits, target)
    assert torch.equal(found, perm)
    torch.testing.assert_close(logits[:, found], target * 8 - 4)


def test_bce_cost_equals_the_mean_bce_of_each_pair():
    torch.manual_seed(0)
    logits, target = torch.randn(2, 3, 5, 5) * 3, _clip(1, t=2, size=5)
    cost = bce_cost(logits, target)
    for i, j in itertools.product(range(3), range(3)):
        ref = torch.nn.functional.binary_cross_entropy(torch.sigmoid(logits[:, i]), target[:, j])
        assert cost[i, j].item() == pytest.approx(ref.item(), rel=1e-5)


def test_one_assignment_holds_for_every_frame_of_a_clip():
    target = _clip(3, t=4)
    logits = target * 8 - 4
    # Frame 0 alone would prefer the swap of channels 0 and 1, the other three frames do not.
    logits[0, [0, 1]] = logits[0, [1, 0]]
    assert torch.equal(hungarian_match(logits, target), torch.arange(3))


def test_batched_matching_and_permutation_agree_with_the_single_clip_version():
    targets = torch.stack([_clip(s) for s in range(3)])  # (B, T, K, H, W)
    logits = torch.stack([(tg * 8 - 4)[:, [2, 0, 1]] for tg in targets])
    perm = hungarian_match_batch(logits, targets)
    singles = [hungarian_match(lg, tg) for lg, tg in zip(logits, targets, strict=True)]
    assert torch.equal(perm, torch.stack(singles))
    torch.testing.assert_close(apply_permutation(logits, perm, dim=2), targets * 8 - 4)
    order = torch.tensor([[10.0, 20.0, 30.0]]).expand(3, 3)
    assert apply_permutation(order, perm, dim=1)[0].tolist() == [20.0, 30.0, 10.0]


def test_matching_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="must both be"):
        hungarian_match(torch.zeros(2, 3, 4, 4), torch.zeros(2, 2, 4, 4))


def test_dice_cost_is_the_soft_dice_loss_of_each_pair():
    torch.manual_seed(0)
    logits, target = torch.randn(2, 3, 5, 5) * 3, _clip(2, t=2, size=5)
    cost = dice_cost(logits, target)
    p = torch.sigmoid(logits)
    for i, j in itertools.product(range(3), range(3)):
        inter = (p[:, i] * target[:, j]).sum()
        ref = 1 - (2 * inter + 1) / (p[:, i].sum() + target[:, j].sum() + 1)
        assert cost[i, j].item() == pytest.approx(ref.item(), rel=1e-5)


def test_dice_in_the_cost_gives_a_small_object_to_the_query_that_found_it_alone():
    # Target 0: a large square; target 1: a 2 x 2 square; target 2: empty. Query 0 found the
    # large square. Query 1 covers the small square confidently, but as part of a 76-pixel blob
    # (two objects in one query); query 2 covers the small square alone, unsure (p = 0.5).
    target = torch.zeros(1, 3, 16, 16)
    target[0, 0, :10, :10] = 1
    target[0, 1, 13:15, 13:15] = 1
    logits = torch.full((1, 3, 16, 16), -6.0)
    logits[0, 0] = target[0, 0] * 12 - 6
    logits[0, 1, 10:, :12] = 6.0
    logits[0, 1, 13:15, 13:15] = 6.0
    logits[0, 2, 13:15, 13:15] = 0.0
    # BCE is linear in the target: it hands the object to the query with the highest logits on
    # it, the blob. Dice weighs the overlap against both areas and picks the clean query.
    assert hungarian_match(logits, target).tolist() == [0, 1, 2]
    assert hungarian_match(logits, target, dice=1.0).tolist() == [0, 2, 1]


def test_the_matcher_gives_the_batch_permutations_of_its_cost():
    logits = torch.stack([(_clip(s)[:, [2, 0, 1]] * 8 - 4) for s in (1, 2)])
    targets = torch.stack([_clip(s) for s in (1, 2)])
    for dice in (0.0, 1.0):
        found = HungarianMatcher(dice=dice)(logits, targets)
        assert torch.equal(found, hungarian_match_batch(logits, targets, dice=dice))
        assert found.tolist() == [[1, 2, 0], [1, 2, 0]]


def test_the_matcher_refuses_a_negative_dice_weight():
    with pytest.raises(ValueError, match="dice"):
        HungarianMatcher(dice=-1.0)
