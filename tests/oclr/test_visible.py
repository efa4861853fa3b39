"""oclr.visible: depth order read from the visibility head, its labels and its loss."""

import pytest
import torch
from oclr.losses import LossConfig, OCLRLoss
from oclr.modal import compose_modal, modal_targets
from oclr.model import build_model, count_parameters
from oclr.visible import visible_labels, visible_loss, visible_order


def box(t, h, w, y0, y1, x0, x1):
    m = torch.zeros(t, h, w)
    m[:, y0:y1, x0:x1] = 1.0
    return m


def seen_logits(labels: torch.Tensor, k: int) -> torch.Tensor:
    """(B, T, H, W) labels -> confident (B, T, K + 1, H, W) visibility logits."""
    return torch.nn.functional.one_hot(labels, k + 1).movedim(-1, 2).float() * 20.0


def test_the_layer_whose_mask_reaches_under_the_seen_one_is_ranked_behind():
    t, h, w = 2, 24, 32
    front, back = box(t, h, w, 4, 14, 4, 14), box(t, h, w, 8, 20, 8, 24)
    amodal = torch.stack([back, front], dim=1)[None]  # channel 0 behind channel 1
    labels = visible_labels(amodal, torch.tensor([[1, 0]]), torch.ones(1, 2, dtype=torch.bool))
    scores = visible_order(amodal, seen_logits(labels, 2))  # (1, T, 2)
    assert scores.shape == (1, t, 2)
    assert bool((scores[0, :, 0] > scores[0, :, 1]).all())  # behind = higher score
    # composing by the scores gives back the modal masks the labels were made of
    composed = compose_modal(amodal[0], scores[0])
    torch.testing.assert_close(composed, labels[0])


def test_a_copy_of_the_seen_object_lands_behind_it_and_apart_layers_score_zero():
    t, h, w = 1, 24, 32
    obj = box(t, h, w, 4, 12, 4, 12)
    far = box(t, h, w, 16, 22, 20, 30)
    amodal = torch.stack([obj, obj.clone(), far], dim=1)[None]  # channel 1 copies channel 0
    labels = torch.zeros(1, t, h, w, dtype=torch.long)
    labels[obj[None] > 0] = 1
    labels[far[None] > 0] = 3
    scores = visible_order(amodal, seen_logits(labels, 3))[0, 0]
    assert scores[1] > scores[0]
    assert abs(float(scores[2])) < 1e-6  # overlaps nothing: no evidence either way


def test_the_scores_carry_no_gradient():
    amodal = torch.rand(1, 2, 2, 8, 8, requires_grad=True)
    seen = torch.randn(1, 2, 3, 8, 8, requires_grad=True)
    assert not visible_order(amodal, seen).requires_grad


def test_labels_are_the_modal_masks_of_each_frames_order():
    t, h, w = 2, 16, 16
    a, b = box(t, h, w, 2, 10, 2, 10), box(t, h, w, 6, 14, 6, 14)
    amodal = torch.stack([a, b], dim=1)[None]
    rank = torch.tensor([[[0, 1], [1, 0]]])  # a in front at frame 0, behind at frame 1
    valid = torch.ones(1, 2, dtype=torch.bool)
    labels = visible_labels(amodal, rank, valid)
    modal = modal_targets(amodal, rank, valid)
    for k in range(2):
        torch.testing.assert_close((labels == k + 1).float(), modal[:, :, k])
    assert labels[0, 0, 8, 8] == 1 and labels[0, 1, 8, 8] == 2
    assert labels[0, 0, 15, 0] == 0


def test_the_loss_follows_the_matching_so_permuted_predictions_score_the_same():
    torch.manual_seed(1)
    t, h, w = 2, 16, 16
    target = torch.stack([box(t, h, w, 2, 9, 2, 9), box(t, h, w, 6, 14, 5, 15),
                          torch.zeros(t, h, w)], dim=1)[None]
    valid = torch.tensor([[True, True, False]])
    logits = torch.randn(1, t, 3, h, w) + 4 * (target * 2 - 1)
    seen = torch.randn(1, t, 4, h, w)
    rank = torch.tensor([[1, 0, 2]])
    loss = OCLRLoss(LossConfig(dice_weight=1.0))
    _, terms = loss(logits, torch.zeros(1, 3), target, valid=valid, gt_rank=rank, visible=seen)
    p = torch.tensor([2, 0, 1])
    seen_p = torch.cat([seen[:, :, :1], seen[:, :, 1:][:, :, p]], dim=2)
    _, permuted = loss(logits[:, :, p], torch.zeros(1, 3), target, valid=valid, gt_rank=rank,
                       visible=seen_p)
    assert abs(terms["visible"] - permuted["visible"]) < 1e-5
    # and a perfect visibility prediction costs next to nothing
    labels = visible_labels(target, rank, valid)
    perm = torch.arange(3)[None]
    assert float(visible_loss(seen_logits(labels, 3), perm, target, rank, valid)) < 1e-6
    assert terms["visible"] > 0.5


def test_the_visible_head_gives_three_outputs_for_the_loss_and_learns_through_them():
    torch.manual_seed(0)
    for mask_head in ("conv", "dot"):
        model = build_model("tiny", height=32, width=48, frames=2, order_head="visible",
                            mask_head=mask_head)
        flow = torch.randn(1, 2, 4, 32, 48)
        logits, order, seen = model(flow, visible=True)
        assert logits.shape == (1, 2, 3, 32, 48) and order.shape == (1, 2, 3)
        assert seen.shape == (1, 2, 4, 32, 48)
        assert len(model(flow)) == 2
        seen.square().mean().backward()
        assert model.visible_head.weight.grad.abs().sum() > 0
        assert model.order_head is None
        counts = count_parameters(model)
        assert sum(v for k, v in counts.items() if k != "total") == counts["total"]


def test_visible_outputs_are_refused_for_another_order_head():
    model = build_model("tiny", height=32, width=48, frames=2)
    with pytest.raises(ValueError, match="order_head"):
        model(torch.randn(1, 2, 4, 32, 48), visible=True)
