"""oclr.objectness: the head that learns which layers hold an object, and its readout."""

import dataclasses
import math

import pytest
import torch
from oclr.config import ModelConfig
from oclr.losses import LossConfig, OCLRLoss, objectness_loss
from oclr.model import build_model
from oclr.objectness import AREA_FLOOR, STATS, mask_statistics, spares_behind
from oclr.readout import read_network

T, H, W = 2, 8, 10
SMALL = {"frames": 4, "height": 32, "width": 48, "cnn_channels": [8, 16, 32],
         "d_model": 32, "heads": 2, "ffn_dim": 32}


def layers() -> torch.Tensor:
    """(1, T, 3, H, W): layer 0 a 4 x 5 box at 0.9, layer 1 its left half (4 x 2) at 0.7 and
    one pixel of its own at 0.6, layer 2 empty (0.1 everywhere)."""
    prob = torch.full((1, T, 3, H, W), 0.1)
    prob[:, :, 0, 2:6, 2:7] = 0.9
    prob[:, :, 1, 2:6, 2:4] = 0.7
    prob[:, :, 1, 0, 0] = 0.6
    return prob


def box_flow() -> torch.Tensor:
    """(1, T, 4, H, W): 2 px a frame to the right on layer 0's box, 0 elsewhere."""
    flow = torch.zeros(1, T, 4, H, W)
    flow[:, :, 0, 2:6, 2:7] = 2.0
    return flow


def test_mask_statistics_give_sureness_area_overlaps_and_flow_contrast_by_hand():
    stats = mask_statistics(layers(), box_flow())[0]  # (3, STATS)
    assert stats.shape == (3, STATS)
    pixels = T * H * W
    # layer 0: 20 px a frame at 0.9, 8 of them shared with layer 1 (IoU 8 / (20 + 9 - 8)), no
    # surer layer; its flow: 0.9 x 20 px at 2 over 0.9 x 20 + 0.1 x 60 inside, 0.1 x 20 px at 2
    # over 0.1 x 20 + 0.9 x 60 outside
    contrast = 36 / 24 - 4 / 56
    torch.testing.assert_close(stats[0], torch.tensor(
        [0.9, math.log(40 / pixels), 8 / 21, 8 / 20, 0.0, 0.0, contrast]), atol=2e-3, rtol=0)
    # layer 1: 9 px a frame (8 at 0.7, 1 at 0.6), 8 of them inside the surer layer 0
    torch.testing.assert_close(stats[1, :6], torch.tensor(
        [(8 * 0.7 + 0.6) / 9, math.log(18 / pixels), 8 / 21, 8 / 9, 8 / 21, 8 / 9]))
    # layer 2: nothing claimed; the same 0.1 everywhere sees the frame's mean flow both ways
    torch.testing.assert_close(stats[2], torch.tensor(
        [0.0, math.log(AREA_FLOOR), 0.0, 0.0, 0.0, 0.0, 0.0]), atol=2e-3, rtol=0)


def test_spare_layers_go_behind_every_other_in_their_own_order():
    scores = torch.tensor([[0.2, -1.0, 0.5, -3.0]])
    logits = torch.tensor([[1.0, -0.5, 2.0, -2.0]])  # layers 1 and 3 spare
    moved = spares_behind(scores, logits)
    assert moved.argsort(1).tolist() == [[0, 2, 3, 1]]  # kept 0 before 2, then 3 before 1
    per_frame = torch.tensor([[[0.0, 1.0, 2.0, 3.0], [3.0, 2.0, 1.0, 0.0]]])
    assert spares_behind(per_frame, logits).argsort(-1).tolist() == [[[0, 2, 1, 3],
                                                                        [2, 0, 3, 1]]]


def test_the_loss_trains_objectness_towards_the_layers_the_matching_gives_an_object():
    target = torch.zeros(1, 2, 3, 8, 8)
    target[:, :, 0, 1:4, 1:4] = 1.0
    logits = torch.full((1, 2, 3, 8, 8), -8.0)
    logits[:, :, 2, 1:4, 1:4] = 8.0  # prediction channel 2 holds the object
    order = torch.zeros(1, 3)
    objectness = torch.tensor([[-1.0, 0.5, 2.0]])
    valid = torch.tensor([1])
    _, terms = OCLRLoss(LossConfig())(logits, order, target, valid=valid, objectness=objectness)
    # matched: prediction 2 -> object (target 1), predictions 0 and 1 -> padding (target 0)
    sp = torch.nn.functional.softplus
    expected = (sp(torch.tensor(-2.0)) + sp(torch.tensor(-1.0)) + sp(torch.tensor(0.5))) / 3
    assert math.isclose(terms["objectness"], float(expected), rel_tol=1e-5)
    assert "objectness" not in OCLRLoss(LossConfig())(logits, order, target, valid=valid)[1]
    assert math.isclose(float(objectness_loss(torch.tensor([[0.0]]), torch.tensor([[True]]))),
                        math.log(2), rel_tol=1e-6)


def test_the_head_leaves_the_other_weights_and_their_gradients_as_they_were():
    torch.manual_seed(3)
    plain = build_model("tiny", **SMALL)
    torch.manual_seed(3)
    model = build_model("tiny", **SMALL, objectness=True)
    ours = model.state_dict()
    assert all(torch.equal(v, ours[k]) for k, v in plain.state_dict().items())
    logits, _, objectness = model(torch.randn(2, 3, 4, 32, 48), objectness=True)
    assert objectness.shape == (2, model.cfg.num_objects)
    objectness.sum().backward()
    head = {id(p) for p in model.objectness_head.parameters()}
    for p in model.parameters():
        assert (p.grad is not None and p.grad.abs().sum() > 0) == (id(p) in head)


class Spare(torch.nn.Module):
    """A stand-in network: layer 0 (the head's front layer) is judged spare."""

    def __init__(self, **cfg) -> None:
        super().__init__()
        self.cfg = dataclasses.replace(ModelConfig.preset("tiny"), objectness=True, **cfg)

    def forward(self, flow, objectness=False):
        b = len(flow)
        logits = torch.zeros(b, T, 3, H, W)
        out = (logits, torch.tensor([[0.0, 1.0, 2.0]]).expand(b, -1))
        return (*out, torch.tensor([[-3.0, 1.0, 2.0]]).expand(b, -1)) if objectness else out


def test_evaluation_reads_spare_layers_behind_or_empties_them_as_spares_says():
    flow = torch.zeros(1, T, 4, H, W)
    prob, scores = read_network(Spare(spares="behind"), flow)
    assert scores.argsort(1).tolist() == [[1, 2, 0]] and bool((prob == 0.5).all())
    prob, kept = read_network(Spare(spares="keep"), flow)
    assert kept.argsort(1).tolist() == [[0, 1, 2]] and bool((prob == 0.5).all())
    prob, same = read_network(Spare(), flow)  # "drop", the default
    assert same.argsort(1).tolist() == [[0, 1, 2]]
    assert bool((prob[:, :, 0] == 0).all()) and bool((prob[:, :, 1:] == 0.5).all())


def test_a_config_refuses_an_objectness_that_is_not_a_bool_and_an_unknown_spares():
    with pytest.raises(ValueError, match="objectness must be true or false"):
        ModelConfig(objectness="yes")
    with pytest.raises(ValueError, match="spares must be one of"):
        ModelConfig(objectness=True, spares="front")


def test_asking_a_model_without_the_head_for_objectness_is_refused():
    with pytest.raises(ValueError, match="needs ModelConfig.objectness"):
        build_model("tiny", **SMALL)(torch.zeros(1, 2, 4, 32, 48), objectness=True)
