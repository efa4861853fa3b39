"""oclr.readout: evaluation and inference read the layers and their order as the config says."""

import dataclasses

import pytest
import torch
from oclr.config import ModelConfig
from oclr.eval_shards import score_loader
from oclr.model import build_model
from oclr.occlusion_order import occlusion_order
from oclr.readout import order_source, read_network

T, H, W = 4, 16, 32
SPEED = 2  # px a frame


def scene() -> tuple[torch.Tensor, torch.Tensor]:
    """A box sliding right over a still box, and a far still box: amodal masks (1, T, 3, H, W)
    (channel 0 the slider, in front; 1 the box it covers; 2 the far one) and the exact flow
    (1, T, 4, H, W) of the surface seen at each pixel."""
    amodal, flow = torch.zeros(1, T, 3, H, W), torch.zeros(1, T, 4, H, W)
    amodal[:, :, 1, 4:12, 10:24] = 1.0
    amodal[:, :, 2, 12:16, 0:4] = 1.0
    for t in range(T):
        ys, xs = slice(6, 10), slice(6 + SPEED * t, 12 + SPEED * t)
        amodal[0, t, 0, ys, xs] = 1.0
        flow[0, t, 0, ys, xs], flow[0, t, 2, ys, xs] = SPEED, -SPEED
    return amodal, flow


class Fixed(torch.nn.Module):
    """A stand-in network: the same logits and order-head scores for every clip."""

    def __init__(self, logits: torch.Tensor, scores: torch.Tensor, **cfg) -> None:
        super().__init__()
        self.cfg = dataclasses.replace(ModelConfig.preset("tiny"), **cfg)
        self.logits, self.scores = logits, scores

    def forward(self, flow: torch.Tensor):
        return self.logits.expand(len(flow), -1, -1, -1, -1), self.scores.expand(len(flow), -1)


WRONG = torch.tensor([[2.0, 1.0, 0.0]])  # the head puts the slider behind the box it covers


def test_the_head_s_scores_are_read_unless_an_occlusion_readout_is_set():
    amodal, flow = scene()
    logits = amodal * 20 - 10
    prob, scores = read_network(Fixed(logits, WRONG), flow)
    torch.testing.assert_close(prob, torch.sigmoid(logits))
    torch.testing.assert_close(scores, WRONG)
    _, scores = read_network(Fixed(logits, WRONG, order_readout="occlusion"), flow)
    assert scores.shape == (1, 3) and scores[0, 0] < scores[0, 1]  # the slider nearer
    torch.testing.assert_close(scores, occlusion_order(torch.sigmoid(logits), flow))
    _, frames = read_network(Fixed(logits, WRONG, order_readout="occlusion_frame"), flow)
    assert frames.shape == (1, T, 3)
    torch.testing.assert_close(frames, occlusion_order(torch.sigmoid(logits), flow,
                                                       per_frame=True))


def test_copies_are_dropped_after_the_order_is_read_from_every_layer():
    amodal, flow = scene()
    logits = torch.cat([amodal, amodal[:, :, :1]], dim=2) * 20 - 10  # channel 3 twins the slider
    logits[:, :, 3] -= 9.0  # probability ~0.73 on the slider's pixels: the less sure twin
    net = Fixed(logits, torch.zeros(1, 4), order_readout="occlusion", copies="drop")
    prob, scores = read_network(net, flow)
    assert float(prob[0, :, 3].max()) == 0.0 and float(prob[0, :, 0].min()) < 1e-3
    torch.testing.assert_close(scores, occlusion_order(torch.sigmoid(logits), flow))


def test_syn_val_ranks_the_pair_by_the_readout_and_composites_the_modal_masks_by_it():
    amodal, flow = scene()
    modal = torch.zeros(1, T, H, W, dtype=torch.long)
    for k in (2, 1, 0):  # back to front: the slider is seen over the box
        modal[amodal[:, :, k] > 0] = k + 1
    batch = {"flow": flow, "amodal": amodal, "modal": modal, "n_objects": torch.tensor([3]),
             "order": torch.tensor([[0, 1, 2]]), "frame_order": torch.tensor([[[0, 1, 2]] * T])}
    results = {readout: score_loader(Fixed(amodal * 20 - 10, WRONG, order_readout=readout),
                                     [batch], ["clip"], torch.device("cpu"))
               for readout in ("head", "occlusion_frame")}
    assert results["head"]["order_acc"] == 0.0 and results["head"]["modal_j"] < 0.9
    assert results["occlusion_frame"]["order_acc"] == 1.0
    assert results["occlusion_frame"]["frame_order_acc"] == 1.0
    assert results["occlusion_frame"]["modal_j"] == pytest.approx(1.0)
    assert results["head"]["amodal_j"] == results["occlusion_frame"]["amodal_j"] == 1.0


def test_a_readout_changes_no_weight_and_no_training_output_of_the_learned_head():
    torch.manual_seed(0)
    head = build_model("tiny", height=32, width=32, frames=3).eval()
    read = build_model("tiny", height=32, width=32, frames=3, order_readout="occlusion").eval()
    read.load_state_dict(head.state_dict())  # strict: the same parameters
    flow = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        (logits, learned), (_, same) = head(flow), read(flow)
        _, scores = read_network(read, flow)
    torch.testing.assert_close(same, learned)
    torch.testing.assert_close(scores, occlusion_order(torch.sigmoid(logits), flow))
    assert order_source(read.cfg) == "occlusion" and order_source(head.cfg) == "global"


def test_the_config_refuses_an_unknown_readout():
    with pytest.raises(ValueError, match="order_readout"):
        ModelConfig(order_readout="learned")


def test_the_command_lines_offer_the_configs_readouts_and_spares():
    from oclr.cli_types import ORDER_READOUTS as OFFERED
    from oclr.cli_types import SPARES as OFFERED_SPARES
    from oclr.config import ORDER_READOUTS, SPARES

    assert OFFERED == ORDER_READOUTS and OFFERED_SPARES == SPARES


def test_a_reading_asked_for_is_a_copy_that_shares_the_weights():
    from oclr.readout import with_reading

    net = build_model("tiny", height=32, width=32, frames=3)
    read = with_reading(net, "occlusion_frame")
    assert read.cfg.order_readout == "occlusion_frame" and net.cfg.order_readout == "head"
    assert read.encoder_cnn is net.encoder_cnn and with_reading(net) is net
    with pytest.raises(ValueError, match="order_readout must be one of"):
        with_reading(net, "learned")
    with pytest.raises(ValueError, match="needs a network with an objectness head"):
        with_reading(net, spares="behind")
    headed = build_model("tiny", height=32, width=32, frames=3, objectness=True)
    read = with_reading(headed, spares="keep")
    assert read.cfg.spares == "keep" and headed.cfg.spares == "drop"
    assert read.cfg.order_readout == headed.cfg.order_readout
    with pytest.raises(ValueError, match="spares must be one of"):
        with_reading(headed, spares="front")


def test_the_readout_counts_in_float32_under_bf16_autocast():
    """Training's Syn-val points and CUDA scoring run the forward under autocast; the evidence
    and pixel counts read after it must not round to bf16's 8 bits."""
    from oclr.occlusion_order import step_evidence

    torch.manual_seed(0)
    prob, flow = torch.rand(1, T, 3, H, W), torch.randn(1, T, 4, H, W) * 2
    net = Fixed(torch.logit(prob), WRONG, order_readout="occlusion_frame", copies="drop")
    exact = read_network(net, flow)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        rounded = step_evidence(prob, flow)  # what autocast does to the raw sums
        read = read_network(net, flow)
    assert not torch.allclose(rounded.float(), step_evidence(prob, flow), rtol=1e-4, atol=0)
    torch.testing.assert_close(read[1], exact[1], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(read[0], exact[0])
