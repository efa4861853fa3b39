"""Tests of oclr.slots: the slot-attention decoder (ModelConfig.decoder "slots")."""

import pytest
import torch
from oclr.checkpoint import load_model, save_checkpoint
from oclr.model import build_model, count_parameters
from oclr.slots import SlotDecoder, competitive_means


def test_each_token_is_shared_out_over_the_slots_and_each_slot_averages_what_it_won():
    values = torch.tensor([[[1.0, 0.0], [3.0, 0.0], [0.0, 10.0]]])  # (N=1, M=3, D=2)
    logits = torch.tensor([[[20.0, 20.0, -20.0],  # slot 0 wins tokens 0 and 1
                            [-20.0, -20.0, 20.0]]])  # slot 1 wins token 2
    means = competitive_means(logits, values)
    assert means[0, 0].tolist() == pytest.approx([2.0, 0.0], abs=1e-4)
    assert means[0, 1].tolist() == pytest.approx([0.0, 10.0], abs=1e-4)


def test_two_slots_scoring_a_token_alike_split_it_where_softmax_over_tokens_would_not():
    # one token two slots both want: competition gives each half of it, so a third token that
    # only slot 1 wants stays slot 1's; softmax over the tokens (the transformer's) would let
    # slot 0 read the shared token whole
    values = torch.tensor([[[4.0], [0.0]]])  # (1, M=2, 1)
    logits = torch.tensor([[[5.0, -30.0], [5.0, 5.0]]])  # slot 0: token 0; slot 1: both
    means = competitive_means(logits, values)
    # slot 0 holds half of token 0 only -> 4; slot 1 half of token 0 and ~all of token 1 -> 4/3
    assert means[0, 0].item() == pytest.approx(4.0, abs=1e-3)
    assert means[0, 1].item() == pytest.approx(4.0 * 0.5 / 1.5, abs=1e-3)


def test_the_outputs_follow_the_clip_and_ignore_the_order_of_a_frames_tokens():
    torch.manual_seed(0)
    dec = SlotDecoder(num_slots=3, d_model=16, ffn_dim=32, iters=3).eval()
    time = torch.linspace(-1, 1, 2)
    memory = torch.randn(2, 2 * 5, 16)  # (B=2, T*P, D), T = 2 frames of P = 5 tokens
    out = dec(memory, time)
    assert out.shape == (2, 3, 2, 16)
    assert (out[0] - out[1]).abs().max() > 1e-2  # two clips, two sets of outputs
    shuffled = memory.unflatten(1, (2, 5))[:, :, torch.randperm(5)].flatten(1, 2)
    torch.testing.assert_close(dec(shuffled, time), out, atol=1e-5, rtol=1e-5)


def test_the_gradient_reaches_the_initial_slots_and_the_memory():
    dec = SlotDecoder(num_slots=2, d_model=8, ffn_dim=16, iters=2)
    memory = torch.randn(1, 3 * 4, 8, requires_grad=True)
    dec(memory, torch.linspace(-1, 1, 3)).square().sum().backward()
    assert dec.init.grad.abs().sum() > 0 and memory.grad.abs().sum() > 0


def test_a_slots_model_gives_the_usual_shapes_and_keeps_no_transformer_decoder():
    torch.manual_seed(0)
    flow = torch.randn(1, 3, 4, 32, 48)
    for head, order_shape in (("global", (1, 3)), ("frame", (1, 3, 3))):
        model = build_model("tiny", decoder="slots", order_head=head).eval()
        logits, order = model(flow)
        assert logits.shape == (1, 3, 3, 32, 48) and order.shape == order_shape
    names = build_model("tiny", decoder="slots").state_dict()
    assert not any(n.startswith(("decoder.", "queries")) for n in names)
    parts = count_parameters(model)
    assert parts["total"] == sum(v for k, v in parts.items() if k != "total")


def test_a_slots_checkpoint_loads_back_into_a_slots_model_with_the_same_outputs(tmp_path):
    torch.manual_seed(1)
    model = build_model("tiny", decoder="slots", slot_iters=2).eval()
    path = save_checkpoint({"model": model.state_dict(), "model_config": model.cfg.to_dict(),
                            "step": 1}, tmp_path / "slots.pt")
    loaded = load_model(path, "cpu")
    assert loaded.cfg.decoder == "slots" and loaded.cfg.slot_iters == 2
    flow = torch.randn(1, 2, 4, 32, 48)
    with torch.no_grad():
        torch.testing.assert_close(loaded(flow)[0], model(flow)[0])


@pytest.mark.parametrize("field, value", [("decoder", "perceiver"), ("slot_iters", -1),
                                          ("slot_iters", 1.5)])
def test_a_bad_decoder_setting_is_refused_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        build_model("tiny", **{field: value})


def test_a_slots_model_trains_under_bf16_autocast_on_the_cpu():
    # the GRU cell mixes a bf16 update with the slots' state: autocast must reconcile them
    torch.manual_seed(2)
    model = build_model("tiny", decoder="slots")
    flow = torch.randn(1, 2, 4, 32, 48)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, order = model(flow)
    assert logits.dtype == torch.bfloat16 and bool(torch.isfinite(logits.float()).all())
    (logits.float().mean() + order.float().mean()).backward()
    assert model.slots.gru.weight_hh.grad.abs().sum() > 0
