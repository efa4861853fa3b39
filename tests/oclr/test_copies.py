"""oclr.copies: a layer that repeats a surer layer's mask is dropped when the model says so."""

import dataclasses

import pytest
import torch
from oclr.config import ModelConfig
from oclr.copies import COPY_IOU, drop_copies
from oclr.eval_shards import score_loader
from oclr.readout import read_network

T, H, W = 2, 8, 10


def box(r0: int, r1: int, c0: int, c1: int, p: float) -> torch.Tensor:
    """(T, H, W) probability p inside rows r0:r1, columns c0:c1, 0.01 elsewhere."""
    out = torch.full((T, H, W), 0.01)
    out[:, r0:r1, c0:c1] = p
    return out


def layers(*masks: torch.Tensor) -> torch.Tensor:
    return torch.stack(masks, dim=1)[None]  # (1, T, K, H, W)


def test_a_layer_repeating_a_surer_layers_mask_is_emptied_and_the_surer_one_stays():
    prob = layers(box(1, 5, 1, 5, 0.7), box(1, 5, 1, 5, 0.99), box(5, 8, 5, 9, 0.9))
    out = drop_copies(prob)
    assert float(out[0, :, 0].max()) == 0.0  # the less sure twin
    torch.testing.assert_close(out[0, :, 1:], prob[0, :, 1:])


def test_a_layer_that_only_overlaps_another_stays_and_so_do_empty_layers():
    # 4 x 4 against 4 x 5 sharing 4 x 4: IoU 0.8, below COPY_IOU
    prob = layers(box(1, 5, 1, 5, 0.7), box(1, 5, 1, 6, 0.99), torch.full((T, H, W), 0.2))
    assert 16 / 20 < COPY_IOU
    torch.testing.assert_close(drop_copies(prob), prob)


def test_which_twin_is_dropped_follows_the_channels_and_ties_keep_the_lower_one():
    prob = layers(box(1, 5, 1, 5, 0.99), box(1, 5, 1, 5, 0.7), box(5, 8, 5, 9, 0.9))
    perm = torch.tensor([2, 1, 0])
    torch.testing.assert_close(drop_copies(prob[:, :, perm]), drop_copies(prob)[:, :, perm])
    twins = layers(box(1, 5, 1, 5, 0.9), box(1, 5, 1, 5, 0.9))
    out = drop_copies(twins)
    assert float(out[0, :, 0].min()) > 0 and float(out[0, :, 1].max()) == 0.0


class Fixed(torch.nn.Module):
    """A stand-in network: the same logits and order scores for every clip."""

    def __init__(self, logits: torch.Tensor, scores: torch.Tensor, copies: str) -> None:
        super().__init__()
        self.cfg = dataclasses.replace(ModelConfig.preset("tiny"), copies=copies)
        self.logits, self.scores = logits, scores

    def forward(self, flow: torch.Tensor):
        return self.logits.expand(len(flow), -1, -1, -1, -1), self.scores.expand(len(flow), -1)


@pytest.mark.parametrize("copies, modal_j", [("keep", 0.0), ("drop", 1.0)])
def test_evaluation_drops_a_twin_that_hides_the_layer_the_matching_picks(copies, modal_j):
    """One object, two layers with its exact mask: channel 0 (probability 0.73) wins the amodal
    matching's tie, channel 1 (~1.0) is ranked in front of it. Kept, the picked layer is seen
    nowhere; dropped, the surer twin is the object's one layer."""
    amodal = torch.zeros(T, 3, H, W)
    amodal[:, 0, 1:5, 1:5] = 1
    logits = torch.stack([amodal[:, 0] * 11 - 10, amodal[:, 0] * 16 - 10,
                          torch.full((T, H, W), -10.0)], dim=1)[None]  # 0.73, 1.0, empty
    model = Fixed(logits, torch.tensor([[1.0, 0.0, 2.0]]), copies)
    batch = {"flow": torch.zeros(1, T, 4, H, W), "amodal": amodal[None],
             "modal": amodal[None, :, 0].long(), "n_objects": torch.tensor([1]),
             "order": torch.tensor([[0, 1, 2]]), "frame_order": torch.tensor([[[0, 1, 2]] * T])}
    result = score_loader(model, [batch], ["clip"], torch.device("cpu"))
    assert result["amodal_j"] == pytest.approx(1.0)
    assert result["modal_j"] == pytest.approx(modal_j)


def test_the_probabilities_read_are_the_sigmoid_unless_the_model_drops_copies():
    logits = torch.logit(layers(box(1, 5, 1, 5, 0.7), box(1, 5, 1, 5, 0.99)))
    flow = torch.zeros(1, T, 4, H, W)
    keep = Fixed(logits, torch.zeros(1, 2), "keep")
    torch.testing.assert_close(read_network(keep, flow)[0], torch.sigmoid(logits))
    drop = Fixed(logits, torch.zeros(1, 2), "drop")
    assert float(read_network(drop, flow)[0][0, :, 0].max()) == 0.0
    with pytest.raises(ValueError, match="copies"):
        ModelConfig(copies="merge")
