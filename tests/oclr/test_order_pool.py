"""Tests of oclr.order_pool: per-query content for the order head that follows the clip."""

import pytest
import torch
from oclr.model import build_model
from oclr.order_pool import mask_pool, memory_pool, pool_width


def test_mask_pool_is_the_mask_weighted_mean_of_the_features_averaged_over_frames():
    prob = torch.zeros(1, 2, 2, 2, 2)  # (B, T, K, H, W)
    prob[0, :, 0, 0, 0] = 1.0  # layer 0: the top-left pixel in both frames
    prob[0, 0, 1] = 0.5  # layer 1: the whole frame at half weight, frame 0 only
    features = torch.arange(16.0).reshape(1, 2, 2, 2, 2)  # (B, T, C, H, W)
    pooled = mask_pool(prob, features, eps=0.0 + 1e-9)  # (1, 2, 2)
    # layer 0: pixel (0, 0) of frame 0 is (0, 4), of frame 1 (8, 12) -> mean (4, 8)
    assert pooled[0, 0].tolist() == pytest.approx([4.0, 8.0], abs=1e-5)
    # layer 1: frame 0's means (1.5, 5.5); frame 1 has an empty mask -> 0; mean over frames
    assert pooled[0, 1].tolist() == pytest.approx([0.75, 2.75], abs=1e-5)


def test_mask_pool_takes_no_gradient_through_the_masks():
    prob = torch.rand(1, 2, 3, 4, 4, requires_grad=True)
    features = torch.rand(1, 2, 5, 4, 4, requires_grad=True)
    mask_pool(prob, features).sum().backward()
    assert prob.grad is None and features.grad.abs().sum() > 0


def test_memory_pool_picks_the_token_a_sharp_attention_map_points_at():
    # B = 1, T = 2, K = 2, G = 2 heads, P = 3 tokens, D = 2
    memory = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]]).expand(2, 3, 2)[None]
    maps = torch.full((1, 2, 4, 3), -1e4)
    maps[0, :, 0, 0] = maps[0, :, 1, 0] = 0.0  # query 0, both heads: token 0
    maps[0, :, 2, 1] = 0.0  # query 1, head 0: token 1
    maps[0, :, 3] = 0.0  # query 1, head 1: uniform over the three tokens
    pooled = memory_pool(maps, memory, heads=2)  # (1, 2, 2)
    assert pooled[0, 0].tolist() == pytest.approx([1.0, 0.0], abs=1e-5)
    # (token 1 + mean of tokens) / 2 = ((0, 1) + (2, 2)) / 2
    assert pooled[0, 1].tolist() == pytest.approx([1.0, 1.5], abs=1e-5)


@pytest.mark.parametrize("pool", ["memory", "mask"])
def test_with_the_decoder_outputs_cut_off_the_order_scores_still_follow_the_clip(pool):
    torch.manual_seed(0)
    flow = torch.randn(2, 4, 4, 32, 48)
    for name, expect_change in (("none", False), (pool, True)):
        model = build_model("tiny", order_pool=name).eval()
        d = model.cfg.d_model
        assert model.order_head[0].in_features == d + pool_width(model.cfg)
        with torch.no_grad():
            model.order_head[0].weight[:, :d] = 0  # the head no longer sees the decoder outputs
            _, order = model(flow)  # (2, 3)
        assert bool((order[0] - order[1]).abs().max() > 1e-4) is expect_change, name


def test_the_default_order_pool_is_the_papers_head_and_a_bad_one_is_refused():
    assert build_model("tiny").order_head[0].in_features == build_model("tiny").cfg.d_model
    with pytest.raises(ValueError, match="order_pool"):
        build_model("tiny", order_pool="features")
