"""Tests of oclr.losses: matching inside the loss, boundary band, order loss, a training run."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from oclr.losses import (
    LossConfig,
    OCLRLoss,
    boundary_band,
    copy_loss,
    dice_loss,
    frame_order_loss,
    frame_overlapping_pairs,
    modal_loss,
    order_loss,
    overlapping_pairs,
)
from oclr.matching import HungarianMatcher
from oclr.model import build_model


def _square(t: int, size: int, y: int, x: int, side: int) -> torch.Tensor:
    m = torch.zeros(t, size, size)
    m[:, y:y + side, x:x + side] = 1
    return m


def test_boundary_band_is_six_pixels_wide_around_a_square():
    mask = torch.zeros(20, 20)
    mask[5:15, 5:15] = 1
    band = boundary_band(mask, radius=3)
    expected = torch.zeros(20, 20, dtype=torch.bool)
    expected[2:18, 2:18] = True  # dilated by 3
    expected[8:12, 8:12] = False  # minus eroded by 3
    assert torch.equal(band, expected)
    assert band[10].sum() == 12  # two crossings of 6 px each


def test_boundary_band_ignores_the_image_border_and_is_empty_for_empty_or_full_masks():
    mask = torch.zeros(10, 10)
    mask[:, :4] = 1  # touches three image borders
    band = boundary_band(mask, radius=1)
    assert band[:, 3:5].all() and band.sum() == 20
    assert not boundary_band(torch.zeros(2, 6, 6), 2).any()
    assert not boundary_band(torch.ones(2, 6, 6), 2).any()


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), radius=st.integers(1, 4), fill=st.floats(0.05, 0.95))
def test_boundary_band_equals_dilation_minus_erosion_that_ignores_the_border(seed, radius, fill):
    from scipy import ndimage

    g = torch.Generator().manual_seed(seed)
    masks = torch.rand(3, 12, 17, generator=g) < fill
    square = np.ones((2 * radius + 1,) * 2, dtype=bool)
    for mask, band in zip(masks.numpy(), boundary_band(masks, radius).numpy(), strict=True):
        dilated = ndimage.binary_dilation(mask, square, border_value=0)
        eroded = ndimage.binary_erosion(mask, square, border_value=1)
        np.testing.assert_array_equal(band, dilated & ~eroded)


def test_order_loss_counts_only_pairs_whose_masks_overlap_in_some_frame():
    t, size = 3, 16
    a, b, c = _square(t, size, 0, 0, 6), _square(t, size, 0, 0, 6), _square(t, size, 10, 10, 4)
    b[:2] = 0  # a and b overlap in the last frame only; c never overlaps anything
    b[2] = torch.roll(a[2], 3, dims=1)
    target = torch.stack([a, b, c], dim=1)[None]  # (1, T, 3, H, W)
    valid, rank = torch.ones(1, 3, dtype=torch.bool), torch.arange(3)[None]
    assert overlapping_pairs(target, valid)[0].nonzero().tolist() == [[0, 1], [1, 0]]
    wrong = torch.tensor([[2.0, 0.0, 0.0]])  # layer 0 placed behind layer 1
    loss = order_loss(wrong, target, rank, valid, tau=1.0)
    # one wrong pair, divided by the K(K-1)/2 = 3 unordered pairs (the reference's normaliser)
    assert loss.item() == pytest.approx(F.softplus(torch.tensor(2.0)).item() / 3)
    # only the scores of the overlapping pair matter; c's score can be anything
    assert order_loss(torch.tensor([[2.0, 0.0, -50.0]]), target, rank, valid, 1.0) == loss
    assert order_loss(torch.tensor([[0.0, 9.0, 0.0]]), target, rank, valid, 1.0) < 1e-3


def test_order_loss_skips_padded_layers_and_follows_a_given_depth_rank():
    a = _square(2, 8, 0, 0, 5)
    target = torch.stack([a, a, a], dim=1)[None]  # all three overlap
    scores = torch.tensor([[0.0, 1.0, 2.0]])  # channel 0 in front
    rank = torch.arange(3)[None]
    two = torch.tensor([[True, True, False]])
    assert order_loss(scores, target, rank, two, 1.0).item() == pytest.approx(
        F.softplus(torch.tensor(-1.0)).item() / 3)
    backwards = torch.tensor([[2, 1, 0]])
    right = order_loss(scores, target, rank, two, 1.0)
    assert order_loss(scores, target, backwards, two, 1.0) > right


def test_dice_counts_each_real_object_equally_and_skips_padding():
    # two small objects (16 px each of 1024); one query holds both, another nothing: the mean BCE
    # spreads the 32 wrong pixels over all 3072, Dice charges a third of the first object's
    # overlap and all of the missed one, averaged over the two objects
    a, b = _square(2, 32, 2, 2, 4), _square(2, 32, 20, 20, 4)
    target = torch.stack([a, b, torch.zeros(2, 32, 32)], dim=1)[None]
    valid = torch.tensor([[True, True, False]])
    right = target * 16 - 8
    merged = torch.stack([a + b, torch.zeros_like(a), torch.zeros_like(a)], dim=1)[None] * 16 - 8
    assert dice_loss(right, target, valid) < 0.02
    assert dice_loss(merged, target, valid).item() == pytest.approx((1 / 3 + 1) / 2, abs=0.02)
    # the padded layer's prediction does not enter the Dice term
    noisy_padding = right.clone()
    noisy_padding[:, :, 2] = 8.0
    assert dice_loss(noisy_padding, target, valid) == dice_loss(right, target, valid)


def test_the_dice_term_enters_the_total_with_its_weight():
    target = torch.stack([_square(2, 16, 2, 2, 8), torch.zeros(2, 16, 16), torch.zeros(2, 16, 16)],
                         dim=1)[None]
    logits = torch.zeros(1, 2, 3, 16, 16)
    order = torch.zeros(1, 3)
    _, paper = OCLRLoss()(logits, order, target, valid=torch.tensor([1]))
    _, terms = OCLRLoss(LossConfig(dice_weight=2.0))(logits, order, target,
                                                     valid=torch.tensor([1]))
    assert "dice" not in paper and terms["dice"] > 0.5
    assert terms["total"] == pytest.approx(paper["total"] + 2.0 * terms["dice"])


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), perm=st.permutations([0, 1, 2]),
       cfg=st.sampled_from([LossConfig(), LossConfig(dice_weight=1.0),
                            LossConfig(modal_weight=0.1, dice_weight=1.0),
                            LossConfig(dice_weight=1.0, order_weight=0.5, modal_weight=0.5,
                                       modal_layers="padded", modal_detach=True),
                            LossConfig(dice_weight=1.0, copy_weight=1.0)]))
def test_loss_is_invariant_to_permuting_the_prediction_channels(seed, perm, cfg):
    g = torch.Generator().manual_seed(seed)
    target = torch.stack([_square(2, 16, 1, 1, 8), _square(2, 16, 4, 5, 8), torch.zeros(2, 16, 16)],
                         dim=1)[None]
    logits = torch.randn(1, 2, 3, 16, 16, generator=g) * 2 + (target * 4 - 2)
    order = torch.randn(1, 3, generator=g)
    loss = OCLRLoss(cfg)
    total, terms = loss(logits, order, target, valid=torch.tensor([2]))
    p = list(perm)
    total_p, terms_p = loss(logits[:, :, p], order[:, p], target, valid=torch.tensor([2]))
    assert total_p.item() == pytest.approx(total.item(), rel=1e-6)
    assert terms_p == pytest.approx(terms, rel=1e-6)



def test_the_copy_term_charges_a_spare_layer_on_what_the_matched_layer_holds():
    """One frame of 1 x 3 pixels, one object on pixels 0 and 1, held by its layer with
    probability 0.5 and 0.75, and two spare layers: the term is the mean over the spare layers of
    their BCE towards 0 on the object's pixels, weighted 0.5 and 0.75."""
    target = torch.zeros(1, 1, 3, 1, 3)
    target[0, 0, 0, 0, :2] = 1
    logits = torch.zeros(1, 1, 3, 1, 3)
    logits[0, 0, 0, 0] = torch.tensor([0.0, float(np.log(3.0)), 9.0])  # p 0.5, 0.75
    logits[0, 0, 1, 0] = torch.tensor([2.0, -1.0, 9.0])  # pixel 2 is background: not counted
    logits[0, 0, 2, 0] = torch.tensor([0.0, 0.0, 9.0])
    valid = torch.tensor([[True, False, False]])
    sp = F.softplus
    first = (0.5 * sp(torch.tensor(2.0)) + 0.75 * sp(torch.tensor(-1.0))) / 1.25
    by_hand = (first + sp(torch.tensor(0.0))) / 2
    assert float(copy_loss(logits, target, valid)) == pytest.approx(float(by_hand), rel=1e-5)
    assert float(copy_loss(logits, target, torch.ones(1, 3, dtype=torch.bool))) == 0.0
    logits[0, 0, 0] = -30.0  # the matched layer misses the object: a spare may take it, free
    assert float(copy_loss(logits, target, valid)) < 1e-6


def test_the_copy_term_enters_the_total_with_its_weight_and_charges_a_hidden_copy():
    """A spare query copying the object behind it is seen nowhere, so the padded modal term
    cannot charge it; the copy term does, and its gradient pushes the copy down."""
    target = torch.stack([_square(2, 16, 2, 2, 8), torch.zeros(2, 16, 16)], dim=1)[None]
    logits = target * 8 - 4
    logits[:, :, 1] = target[:, :, 0] * 3 - 4  # a fainter copy of the object
    logits.requires_grad_(True)
    order = torch.tensor([[0.0, 5.0]])  # the copy behind
    _, plain = OCLRLoss()(logits, order, target, valid=torch.tensor([1]))
    total, terms = OCLRLoss(LossConfig(copy_weight=2.0))(logits, order, target,
                                                        valid=torch.tensor([1]))
    assert "copy" not in plain and terms["copy"] > 0.3
    assert terms["total"] == pytest.approx(plain["total"] + 2.0 * terms["copy"])
    total.backward()
    assert float(logits.grad[0, :, 1][target[0, :, 0] > 0].min()) > 0  # the copy is pushed down


def test_the_copy_term_waits_for_its_share_of_the_training():
    target = torch.stack([_square(2, 16, 2, 2, 8), torch.zeros(2, 16, 16)], dim=1)[None]
    logits = target * 8 - 4
    logits[:, :, 1] = target[:, :, 0] * 3 - 4  # a fainter copy of the object
    loss = OCLRLoss(LossConfig(copy_weight=1.0, copy_start=0.5))
    _, early = loss(logits, torch.zeros(1, 2), target, valid=torch.tensor([1]), progress=0.49)
    _, late = loss(logits, torch.zeros(1, 2), target, valid=torch.tensor([1]), progress=0.5)
    assert "copy" not in early and late["copy"] > 0.3
    assert late["total"] == pytest.approx(early["total"] + late["copy"])
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="copy_start"):
            LossConfig(copy_start=bad)


def test_the_loss_matches_with_the_matcher_it_is_given():
    target = torch.stack([_square(2, 16, 1, 1, 8), _square(2, 16, 6, 6, 8), torch.zeros(2, 16, 16)],
                         dim=1)[None]
    logits = (target[:, :, [1, 0, 2]] * 8 - 4)  # channels 0 and 1 swapped
    order = torch.zeros(1, 3)
    calls = []

    def identity(lg, tg):
        calls.append(tuple(lg.shape))
        return torch.arange(lg.shape[2]).expand(lg.shape[0], -1)

    _, unmatched = OCLRLoss(matcher=identity)(logits, order, target)
    _, matched = OCLRLoss(matcher=HungarianMatcher())(logits, order, target)
    assert calls == [(1, 2, 3, 16, 16)]
    assert unmatched["amodal"] > 10 * matched["amodal"]


def test_the_default_matcher_weighs_the_dice_term_in_as_the_loss_does():
    assert OCLRLoss().matcher == HungarianMatcher(dice=0.0)
    assert OCLRLoss(LossConfig(dice_weight=2.0)).matcher == HungarianMatcher(dice=2.0)

def test_loss_terms_are_weighted_as_in_the_reference_and_reported_as_floats():
    target = torch.stack([_square(2, 16, 2, 2, 8), _square(2, 16, 6, 6, 8), torch.zeros(2, 16, 16)],
                         dim=1)[None]
    logits = torch.zeros(1, 2, 3, 16, 16, requires_grad=True)
    order = torch.tensor([[1.0, 0.0, 0.0]], requires_grad=True)
    total, terms = OCLRLoss()(logits, order, target)
    assert set(terms) == {"amodal", "boundary", "order", "total"}
    assert all(isinstance(v, float) for v in terms.values())
    assert terms["amodal"] == pytest.approx(torch.log(torch.tensor(2.0)).item())
    assert terms["total"] == pytest.approx(
        terms["amodal"] + 0.2 * terms["boundary"] + 0.05 * terms["order"])
    assert terms["order"] > 0
    total.backward()
    assert logits.grad.abs().sum() > 0 and order.grad.abs().sum() > 0
    assert LossConfig().boundary_radius == 3


def _moving_squares(n_objects: int, t: int, g: torch.Generator) -> tuple[torch.Tensor, ...]:
    """One clip: flow (T, 4, 32, 56) and amodal (T, 3, 32, 56), layer 0 in front."""
    flow, amodal = torch.zeros(t, 4, 32, 56), torch.zeros(t, 3, 32, 56)
    for k in range(n_objects):
        y = torch.randint(0, 20, (1,), generator=g).item()
        x = torch.randint(0, 40, (1,), generator=g).item()
        amodal[:, k, y:y + 12, x:x + 16] = 1
    for k in reversed(range(n_objects)):  # front layer painted last: its flow wins
        m = amodal[:, k:k + 1] > 0
        velocity = torch.randn(2, generator=g) * 3
        flow = torch.where(m, torch.cat([velocity, -velocity])[None, :, None, None], flow)
    return flow, amodal


@pytest.fixture
def one_thread():
    """One intra-op thread: on a shared 2-core machine, two OpenMP threads spin-waiting against
    other processes make a step 10-30x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_tiny_model_loss_decreases_on_a_batch_mixing_one_two_and_three_objects(one_thread):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    clips = [_moving_squares(n, 2, g) for n in (1, 2, 3)]
    flow, target = (torch.stack(x) for x in zip(*clips, strict=True))
    valid = torch.tensor([1, 2, 3])
    model, loss_fn = build_model("tiny", frames=2), OCLRLoss()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    history = []
    for _ in range(8):
        total, terms = loss_fn(*model(flow), target, valid=valid)
        opt.zero_grad()
        total.backward()
        opt.step()
        history.append(terms["total"])
    assert history[-1] < 0.8 * history[0] and min(history[:3]) > max(history[-3:]), history


def test_order_loss_of_a_batch_is_the_mean_over_clips_of_the_sum_over_three_pairs():
    a = _square(1, 8, 0, 0, 5)
    target = torch.stack([a, a, a], dim=1).expand(2, 1, 3, 8, 8)  # every pair overlaps
    rank, valid = torch.arange(3).expand(2, 3), torch.ones(2, 3, dtype=torch.bool)
    scores = torch.tensor([[0.0, 1.0, 3.0], [3.0, 1.0, 0.0]])  # clip 0 right, clip 1 reversed
    sp = lambda x: float(F.softplus(torch.tensor(-x)))  # noqa: E731  -log sigmoid(x)
    clip0 = sp(1.0) + sp(3.0) + sp(2.0)  # pairs (1 behind 0), (2 behind 0), (2 behind 1)
    clip1 = sp(-2.0) + sp(-3.0) + sp(-1.0)
    assert order_loss(scores, target, rank, valid, 1.0).item() == pytest.approx(
        (clip0 + clip1) / 2 / 3, rel=1e-6)
    # tau divides the score gaps
    assert order_loss(scores * 2, target, rank, valid, 2.0).item() == pytest.approx(
        (clip0 + clip1) / 6, rel=1e-6)


def _bce(p: float, y: float) -> float:
    p = min(max(p, 1e-5), 1 - 1e-5)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def test_modal_loss_on_one_pixel_equals_the_hand_computed_soft_composite():
    # two layers on one pixel, both present with p = 0.8 / 0.6; GT: layer 0 in front, so the modal
    # truth is (1, 0). With scores (0, 0) both orders weigh 1/2:
    # soft modal = (0.8 * (1/2 + 1/2 * 0.4), 0.6 * (1/2 * 0.2 + 1/2)) = (0.56, 0.36)
    logits = torch.logit(torch.tensor([0.8, 0.6])).reshape(1, 1, 2, 1, 1)
    target = torch.ones(1, 1, 2, 1, 1)
    rank, valid = torch.tensor([[0, 1]]), torch.ones(1, 2, dtype=torch.bool)
    got = modal_loss(logits, torch.zeros(1, 2), target, rank, valid, 1.0).item()
    assert got == pytest.approx((_bce(0.56, 1) + _bce(0.36, 0)) / 2, rel=1e-5)
    # scores (-inf-ish, +): layer 0 surely in front: soft modal (0.8, 0.6 * 0.2 = 0.12)
    sure = modal_loss(logits, torch.tensor([[-30.0, 30.0]]), target, rank, valid, 1.0).item()
    assert sure == pytest.approx((_bce(0.8, 1) + _bce(0.12, 0)) / 2, rel=1e-4)
    assert sure < got


def test_modal_loss_trains_the_order_head_towards_the_true_depth_order():
    logits = torch.logit(torch.tensor([0.9, 0.9])).reshape(1, 1, 2, 1, 1)
    target = torch.ones(1, 1, 2, 1, 1)
    scores = torch.zeros(1, 2, requires_grad=True)
    rank, valid = torch.tensor([[1, 0]]), torch.ones(1, 2, dtype=torch.bool)  # layer 1 in front
    modal_loss(logits, scores, target, rank, valid, 1.0).backward()
    # descending the gradient moves layer 1 nearer (lower score) and layer 0 farther
    assert scores.grad[0, 1] > 0 > scores.grad[0, 0]


def test_the_modal_term_charges_an_unmatched_query_that_copies_the_object_in_front_of_it():
    # a 1-object clip: channel 0 holds the object, channel 1 a copy, channel 2 stays empty
    obj = _square(2, 16, 2, 2, 8)
    target = torch.stack([obj, torch.zeros_like(obj), torch.zeros_like(obj)], dim=1)[None]
    # the copy is a little less sure than the original, so the matching gives channel 0 the object
    logits = torch.stack([obj * 12 - 6, obj * 11 - 5.5, torch.zeros_like(obj) - 6], dim=1)[None]
    loss = OCLRLoss(LossConfig(modal_weight=0.1))
    valid = torch.tensor([1])
    _, copy_in_front = loss(logits, torch.tensor([[1.0, -1.0, 0.0]]), target, valid=valid)
    _, copy_behind = loss(logits, torch.tensor([[-1.0, 1.0, 0.0]]), target, valid=valid)
    # the order term never sees padded layers; only the modal term tells the two apart
    assert copy_in_front["order"] == copy_behind["order"] == 0
    assert copy_in_front["amodal"] == pytest.approx(copy_behind["amodal"])
    assert copy_in_front["modal"] > 2 * copy_behind["modal"]
    # and without any copy the modal term is lower still than with the copy behind
    clean = logits.clone()
    clean[:, :, 1] = -5.5
    _, none = loss(clean, torch.tensor([[-1.0, 1.0, 0.0]]), target, valid=valid)
    assert none["modal"] < copy_behind["modal"]


def test_the_modal_term_enters_the_total_with_its_weight():
    g = torch.Generator().manual_seed(3)
    target = torch.stack([_square(2, 16, 1, 1, 8), _square(2, 16, 4, 5, 8),
                          torch.zeros(2, 16, 16)], dim=1)[None]
    logits, order = torch.randn(1, 2, 3, 16, 16, generator=g), torch.randn(1, 3, generator=g)
    _, base = OCLRLoss()(logits, order, target, valid=torch.tensor([2]))
    _, terms = OCLRLoss(LossConfig(modal_weight=0.1))(logits, order, target,
                                                       valid=torch.tensor([2]))
    assert "modal" not in base and terms["modal"] > 0
    assert terms["total"] == pytest.approx(base["total"] + 0.1 * terms["modal"], rel=1e-6)


def test_modal_loss_on_padded_layers_scores_only_the_unmatched_copy():
    # the one-pixel case above, but layer 1 is padding (no object): its modal truth is empty and
    # only it is scored. With scores (0, 0) its soft modal is 0.6 * (1/2 * 0.2 + 1/2) = 0.36.
    logits = torch.logit(torch.tensor([0.8, 0.6])).reshape(1, 1, 2, 1, 1)
    target = torch.tensor([1.0, 0.0]).reshape(1, 1, 2, 1, 1)
    rank, valid = torch.tensor([[0, 2]]), torch.tensor([[True, False]])
    got = modal_loss(logits, torch.zeros(1, 2), target, rank, valid, 1.0, layers="padded")
    assert got.item() == pytest.approx(_bce(0.36, 0), rel=1e-5)
    # no padded layer in the batch: nothing to score
    full = modal_loss(logits, torch.zeros(1, 2), torch.ones(1, 1, 2, 1, 1), torch.tensor([[0, 1]]),
                      torch.ones(1, 2, dtype=torch.bool), 1.0, layers="padded")
    assert full.item() == 0


def test_a_detached_modal_term_trains_the_order_scores_and_not_the_masks():
    logits = torch.logit(torch.tensor([0.9, 0.9])).reshape(1, 1, 2, 1, 1).requires_grad_()
    target = torch.ones(1, 1, 2, 1, 1)
    scores = torch.zeros(1, 2, requires_grad=True)
    rank, valid = torch.tensor([[1, 0]]), torch.ones(1, 2, dtype=torch.bool)
    loss = modal_loss(logits, scores, target, rank, valid, 1.0, detach=True)
    loss.backward()
    assert logits.grad is None
    assert scores.grad[0, 1] > 0 > scores.grad[0, 0]
    same = modal_loss(logits.detach(), scores.detach(), target, rank, valid, 1.0)
    assert loss.item() == pytest.approx(same.item())


def test_the_padded_modal_term_pushes_a_copy_behind_the_object():
    # 1-object clip, channel 1 copies the object and is ranked in front: the term's gradient on
    # the scores moves the copy back (higher score) and the object forward
    obj = _square(2, 16, 2, 2, 8)
    target = torch.stack([obj, torch.zeros_like(obj), torch.zeros_like(obj)], dim=1)[None]
    logits = torch.stack([obj * 12 - 6, obj * 11 - 5.5, torch.zeros_like(obj) - 6], dim=1)[None]
    order = torch.tensor([[1.0, -1.0, 0.0]], requires_grad=True)
    cfg = LossConfig(modal_weight=1.0, modal_layers="padded", modal_detach=True)
    total, terms = OCLRLoss(cfg)(logits, order, target, valid=torch.tensor([1]))
    total.backward()
    assert terms["modal"] > 0
    assert order.grad[0, 1] < -0.1 and order.grad[0, 0] > 0.1


@pytest.mark.parametrize("bad", [{"modal_layers": "real"}, {"modal_detach": "yes"}])
def test_loss_config_refuses_an_unknown_modal_setting(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        LossConfig(**bad)


def _crossing_pair() -> tuple[torch.Tensor, torch.Tensor]:
    """Two 2 x 2 layers, one clip of two frames: they overlap wholly at frame 0 and not at all
    at frame 1. Returns target (1, 2, 2, 2, 2) and valid (1, 2)."""
    target = torch.zeros(1, 2, 2, 2, 2)
    target[0, 0] = 1
    target[0, 1, 0, 0] = 1
    target[0, 1, 1, 1] = 1
    return target, torch.ones(1, 2, dtype=torch.bool)


def test_the_per_frame_order_loss_counts_each_frame_s_overlapping_pairs_by_that_frame_s_order():
    target, valid = _crossing_pair()
    scores = torch.tensor([[[0.0, 1.0], [5.0, -5.0]]])  # frame 1's scores are never charged
    # frame 0: layer 1 behind layer 0, r_1 - r_0 = 1: -log sigmoid(1) = softplus(-1); frame 1:
    # no pair overlaps; the mean over the 2 frames, over the K(K-1)/2 = 1 pair
    in_front = torch.tensor([[[0, 1], [1, 0]]])
    got = frame_order_loss(scores, target, in_front, valid, 1.0).item()
    assert got == pytest.approx(float(F.softplus(torch.tensor(-1.0))) / 2, rel=1e-6)
    swapped = torch.tensor([[[1, 0], [0, 1]]])  # layer 0 behind at frame 0: softplus(1) / 2
    got = frame_order_loss(scores, target, swapped, valid, 1.0).item()
    assert got == pytest.approx(float(F.softplus(torch.tensor(1.0))) / 2, rel=1e-6)
    assert frame_overlapping_pairs(target, valid)[0, :, 0, 1].tolist() == [True, False]


def test_per_frame_scores_go_through_the_per_frame_order_loss_and_the_global_ones_do_not():
    target, valid = _crossing_pair()
    logits = target * 8 - 4
    rank = torch.tensor([[1, 0]])  # the clip's order: layer 1 in front
    frame_rank = torch.tensor([[[0, 1], [1, 0]]])  # at frame 0, layer 0 in front
    loss = OCLRLoss(LossConfig())
    _, per_frame = loss(logits, torch.tensor([[[0.0, 1.0], [0.0, 1.0]]]), target, valid,
                        gt_rank=rank, frame_rank=frame_rank)
    assert per_frame["order"] == pytest.approx(float(F.softplus(torch.tensor(-1.0))) / 2)
    _, clip = loss(logits, torch.tensor([[0.0, 1.0]]), target, valid, gt_rank=rank,
                   frame_rank=frame_rank)
    assert clip["order"] == pytest.approx(float(F.softplus(torch.tensor(1.0))))  # by `rank`


def test_without_a_frame_rank_per_frame_scores_are_ranked_by_the_clip_s_order_at_every_frame():
    target, valid = _crossing_pair()
    scores = torch.tensor([[[0.0, 1.0], [0.0, 1.0]]])
    rank = torch.tensor([[1, 0]])
    _, terms = OCLRLoss()(target * 8 - 4, scores, target, valid, gt_rank=rank)
    want = frame_order_loss(scores, target, rank[:, None].expand(-1, 2, -1), valid, 1.0)
    assert terms["order"] == pytest.approx(want.item())


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), perm=st.permutations([0, 1, 2]),
       cfg=st.sampled_from([LossConfig(), LossConfig(modal_weight=0.1, dice_weight=1.0),
                            LossConfig(dice_weight=1.0, order_weight=0.5, modal_weight=0.5,
                                       modal_layers="padded", modal_detach=True)]))
def test_the_per_frame_loss_is_invariant_to_permuting_the_prediction_channels(seed, perm, cfg):
    g = torch.Generator().manual_seed(seed)
    target = torch.stack([_square(3, 16, 1, 1, 8), _square(3, 16, 4, 5, 8),
                          _square(3, 16, 6, 2, 6)], dim=1)[None]
    frame_rank = torch.tensor([[[0, 1, 2], [1, 0, 2], [2, 0, 1]]])  # the order changes
    logits = torch.randn(1, 3, 3, 16, 16, generator=g) * 2 + (target * 4 - 2)
    order = torch.randn(1, 3, 3, generator=g)  # (B, T, K)
    loss = OCLRLoss(cfg)
    total, terms = loss(logits, order, target, frame_rank=frame_rank)
    p = list(perm)
    total_p, terms_p = loss(logits[:, :, p], order[:, :, p], target, frame_rank=frame_rank)
    assert terms["order"] > 0
    assert total_p.item() == pytest.approx(total.item(), rel=1e-6)
    assert terms_p == pytest.approx(terms, rel=1e-6)


def test_the_modal_term_composes_each_frame_by_its_own_scores_and_ranks():
    # one pixel, two layers both present (p = 0.8, 0.6) over two frames; at frame 0 layer 0 is
    # in front, at frame 1 layer 1. Sure per-frame scores that follow the order give at frame 0
    # soft modal (0.8, 0.6 * 0.2) against (1, 0), at frame 1 (0.8 * 0.4, 0.6) against (0, 1)
    logits = torch.logit(torch.tensor([0.8, 0.6])).reshape(1, 1, 2, 1, 1).expand(1, 2, 2, 1, 1)
    target, valid = torch.ones(1, 2, 2, 1, 1), torch.ones(1, 2, dtype=torch.bool)
    frame_rank = torch.tensor([[[0, 1], [1, 0]]])
    scores = torch.tensor([[[-30.0, 30.0], [30.0, -30.0]]])
    got = modal_loss(logits, scores, target, frame_rank, valid, 1.0).item()
    want = (_bce(0.8, 1) + _bce(0.12, 0) + _bce(0.32, 0) + _bce(0.6, 1)) / 4
    assert got == pytest.approx(want, rel=1e-4)
    one_order = modal_loss(logits, scores[:, 0], target, frame_rank, valid, 1.0).item()
    assert one_order > got  # a clip-wide order is wrong at frame 1
