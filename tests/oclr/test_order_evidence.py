"""Tests of oclr.order_evidence: the flow where two masks overlap belongs to the front layer."""

import pytest
import torch
from oclr.eval_shards import score_clip
from oclr.losses import OCLRLoss
from oclr.model import build_model
from oclr.order_evidence import occlusion_evidence


def _two_overlapping_layers() -> tuple[torch.Tensor, torch.Tensor]:
    """prob (1, 2, 3, 16, 24): layer 0 at x 2-12, layer 1 at x 8-18 (overlap x 8-12), layer 2
    empty; flow (1, 2, 4, 16, 24): layer 0's motion (1, 0) over its whole mask (it is in front),
    layer 1's (0, 2) where it shows, the background still."""
    prob = torch.zeros(1, 2, 3, 16, 24)
    prob[:, :, 0, 4:12, 2:12] = 1
    prob[:, :, 1, 4:12, 8:18] = 1
    flow = torch.zeros(1, 2, 4, 16, 24)
    flow[:, :, 1, 4:12, 12:18] = 2.0  # layer 1 where it is visible
    flow[:, :, 3, 4:12, 12:18] = -2.0
    flow[:, :, 0, 4:12, 2:12] = 1.0  # layer 0, in front, over the overlap too
    flow[:, :, 2, 4:12, 2:12] = -1.0
    return prob, flow


def test_the_front_layer_of_an_overlap_has_no_flow_gap_and_the_one_behind_has_its_motion_gap():
    prob, flow = _two_overlapping_layers()
    ev = occlusion_evidence(prob, flow)  # (1, 3, 2)
    gap = torch.expm1(ev[0, :, 0])
    assert gap[0].item() == pytest.approx(0.0, abs=1e-3)
    # behind: overlap flow (1, 0, -1, 0) against its own (0, 2, 0, -2): |.| = sqrt(10)
    assert gap[1].item() == pytest.approx(10 ** 0.5, rel=1e-3)
    # overlap shares: 4 of 10 columns of layer 0, 4 of 10 of layer 1, nothing for the empty one
    assert ev[0, :, 1].tolist() == pytest.approx([0.4, 0.4, 0.0], abs=1e-3)
    assert ev[0, 2].tolist() == pytest.approx([0.0, 0.0], abs=1e-6)


def test_evidence_follows_the_layers_when_the_channels_are_permuted():
    prob, flow = _two_overlapping_layers()
    perm = [2, 0, 1]
    assert torch.allclose(occlusion_evidence(prob[:, :, perm], flow),
                          occlusion_evidence(prob, flow)[:, perm])


def test_a_model_with_order_evidence_takes_two_more_order_head_inputs_and_the_default_none():
    plain, with_ev = build_model("tiny"), build_model("tiny", order_evidence=True)
    assert plain.order_head[0].in_features == plain.cfg.d_model
    assert with_ev.order_head[0].in_features == plain.cfg.d_model + 2
    logits, order = with_ev(torch.randn(1, 4, 4, 32, 48))
    assert logits.shape == (1, 4, 3, 32, 48) and order.shape == (1, 3)
    with pytest.raises(ValueError, match="order_evidence"):
        build_model("tiny", order_evidence="yes")


def test_the_flow_gap_as_order_score_ranks_the_pair_right_through_matching_loss_and_scoring():
    # the oracle of issue 15: GT masks in shuffled channels, score = flow gap (front ~0 = nearer)
    gt, flow = _two_overlapping_layers()  # channel 0 in front, as in the shards
    perm = [2, 0, 1]  # prediction channel c holds GT layer perm[c]
    prob = gt[:, :, perm]
    gap = occlusion_evidence(prob, flow)[..., 0]  # (1, 3)
    logits = (prob * 2 - 1) * 10
    loss = OCLRLoss()
    _, right = loss(logits, gap, gt, valid=torch.tensor([2]))
    _, wrong = loss(logits, -gap, gt, valid=torch.tensor([2]))
    assert right["order"] < 0.2 < 0.5 < wrong["order"]  # softplus(-+1.43) / 3 pairs: 0.07, 0.55
    modal = torch.zeros(2, 16, 24, dtype=torch.long)
    modal[gt[0, :, 1] > 0] = 2
    modal[gt[0, :, 0] > 0] = 1
    clip = score_clip("c", prob[0], gap[0], gt[0], modal, 2, torch.tensor([0, 1, 3]))
    assert (clip.pairs, clip.pairs_correct) == (1, 1) and clip.modal_j == [1.0, 1.0]
