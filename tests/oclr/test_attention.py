"""Tests of oclr.attention: the encoder's frame mask, seen through the attention itself."""

import torch
from oclr.attention import MultiHeadAttention, ReferenceNorm, make_norm, other_frame_mask
from oclr.model import build_model


def _first_encoder_attention_output(model, features):
    """First encoder self-attention output (B, T, h*w, D) for features (B, T, C, h, w)."""
    seen = []
    hook = model.encoder[0].self_attn.register_forward_hook(lambda m, i, o: seen.append(o))
    with torch.no_grad():
        model.encode(features)
    hook.remove()
    return seen[0].unflatten(1, features.shape[1:2] + (-1,))


def test_encoder_tokens_do_not_attend_to_other_tokens_of_their_own_frame():
    torch.manual_seed(0)
    model = build_model("tiny", frames=4).eval()
    features = torch.randn(1, 4, 128, 8, 14)  # the CNN bottleneck of a 4-frame 64 x 112 clip
    changed = features.clone()
    changed[:, 2] = torch.randn(128, 8, 14)
    changed[:, 2, :, 3, 5] = features[:, 2, :, 3, 5]  # every token of frame 2 but (y, x) = (3, 5)
    before = _first_encoder_attention_output(model, features)
    after = _first_encoder_attention_output(model, changed)
    # The kept token's query is unchanged and its keys all lie in frames 0, 1, 3: same output,
    # although 111 tokens of its own frame changed.
    kept = 3 * 14 + 5
    torch.testing.assert_close(after[:, 2, kept], before[:, 2, kept], rtol=1e-5, atol=1e-5)
    for t in (0, 1, 3):  # the other frames do attend to frame 2, so their outputs move
        assert (after[:, t] - before[:, t]).abs().amax(-1).min() > 1e-4


def test_masked_attention_output_depends_on_other_frames_and_on_no_other_token_of_its_frame():
    torch.manual_seed(0)
    attn = MultiHeadAttention(16, 2, dropout=0.0)
    mask = other_frame_mask(3, 5, torch.device("cpu"))  # 3 frames of 5 tokens
    x = torch.randn(1, 15, 16, requires_grad=True)
    out = attn(x, x, mask)
    # d out[query] / d x[key] is zero exactly where the mask forbids key for query.
    for query in (0, 7, 14):
        (grad,) = torch.autograd.grad(out[0, query].sum(), x, retain_graph=True)
        touched = grad[0].abs().sum(-1) > 0  # (15,)
        frame = torch.arange(15) // 5
        itself = torch.arange(15) == query  # through its own query projection
        assert torch.equal(touched, (frame != frame[query]) | itself)


def test_frame_mask_is_dropped_for_a_single_frame_so_attention_stays_finite():
    assert other_frame_mask(1, 6, torch.device("cpu")) is None
    attn = MultiHeadAttention(8, 2, dropout=0.0)
    x = torch.randn(2, 6, 8)
    assert torch.isfinite(attn(x, x, other_frame_mask(1, 6, torch.device("cpu")))).all()


def test_frame_mask_marks_exactly_the_pairs_in_different_frames():
    mask = other_frame_mask(2, 3, torch.device("cpu"))
    expected = torch.tensor([[0, 0, 0, 1, 1, 1]] * 3 + [[1, 1, 1, 0, 0, 0]] * 3, dtype=torch.bool)
    assert torch.equal(mask, expected)


def test_reference_norm_is_the_unbiased_std_plus_eps_formula_computed_by_hand():
    torch.manual_seed(0)
    norm = make_norm("reference", 6)
    with torch.no_grad():
        norm.weight.copy_(torch.arange(1.0, 7.0))
        norm.bias.fill_(0.5)
    x = torch.tensor([[1.0, 2.0, 4.0, 8.0, 16.0, 32.0]])
    mean = sum(x[0].tolist()) / 6
    std = (sum((v - mean) ** 2 for v in x[0].tolist()) / 5) ** 0.5  # n - 1
    expected = torch.tensor([[(i + 1) * (v - mean) / (std + 1e-5) + 0.5
                              for i, v in enumerate(x[0].tolist())]])
    torch.testing.assert_close(norm(x), expected, rtol=1e-6, atol=1e-6)


def test_reference_norm_differs_from_layernorm_by_the_n_over_n_minus_1_factor():
    torch.manual_seed(0)
    x = torch.randn(4, 512)
    ours, theirs = make_norm("layernorm", 512), make_norm("reference", 512)
    ratio = theirs(x) / ours(x)  # same zero weights-bias: pure formula difference
    torch.testing.assert_close(ratio, torch.full_like(ratio, (511 / 512) ** 0.5), rtol=1e-4,
                               atol=1e-4)
    assert set(dict(ours.named_parameters())) == set(dict(theirs.named_parameters()))


def test_model_config_norm_choice_reaches_every_transformer_layer():
    model = build_model("tiny", norm="reference")
    norms = [m for m in model.modules() if isinstance(m, (ReferenceNorm, torch.nn.LayerNorm))]
    assert len(norms) == 2 * 2 + 2 * 3
    assert all(isinstance(m, ReferenceNorm) for m in norms)
    assert not any(isinstance(m, ReferenceNorm) for m in build_model("tiny").modules())
