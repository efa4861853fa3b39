"""oclr.occlusion_order: depth order read off the masks where the flow shows a layer hidden."""

import torch
from oclr.model import build_model, count_parameters
from oclr.occlusion_order import (
    CLIP_SHARE,
    hidden_pixels,
    hiding_evidence,
    occlusion_order,
    scores_of,
    step_evidence,
)

T, H, W = 4, 16, 32
SPEED = 2  # px a frame, the front box to the right


def front_box(t: int) -> tuple[slice, slice]:
    return slice(6, 10), slice(6 + SPEED * t, 12 + SPEED * t)


def scene() -> tuple[torch.Tensor, torch.Tensor]:
    """A box sliding right over a still box, and a still box far from both: amodal masks
    (1, T, 3, H, W) (channel 0 the slider, 1 the box it covers, 2 the far one) and the exact flow
    (1, T, 4, H, W) [u, v to t + 1, u, v to t - 1] of the surface seen at each pixel."""
    amodal = torch.zeros(1, T, 3, H, W)
    flow = torch.zeros(1, T, 4, H, W)
    amodal[:, :, 1, 4:12, 10:24] = 1.0
    amodal[:, :, 2, 12:16, 0:4] = 1.0
    for t in range(T):
        ys, xs = front_box(t)
        amodal[0, t, 0, ys, xs] = 1.0
        flow[0, t, 0, ys, xs] = SPEED  # the slider is seen wherever it is: it moves, the rest not
        flow[0, t, 2, ys, xs] = -SPEED
    return amodal, flow


def test_the_layer_the_flow_shows_being_hidden_is_ranked_behind_the_one_hiding_it():
    amodal, flow = scene()
    e = hiding_evidence(amodal, flow)[0]
    assert e[0, 1] > 0  # the slider hides the still box ...
    assert e[1, 0] == 0  # ... and nothing of the slider is ever hidden
    scores = occlusion_order(amodal, flow)[0]
    assert scores.shape == (3,)
    assert scores[0] < scores[1]  # lower = nearer


def test_a_layer_that_overlaps_nothing_scores_zero_and_one_frame_gives_no_order():
    amodal, flow = scene()
    assert abs(float(occlusion_order(amodal, flow)[0, 2])) < 1e-6
    assert torch.equal(occlusion_order(amodal[:, :1], flow[:, :1]), torch.zeros(1, 3))


def test_the_scores_follow_the_channels_when_they_are_permuted():
    amodal, flow = scene()
    perm = torch.tensor([2, 0, 1])
    torch.testing.assert_close(occlusion_order(amodal[:, :, perm], flow),
                               occlusion_order(amodal, flow)[:, perm])


def test_a_round_trip_that_misses_hides_the_pixel_unless_it_leaves_the_frame():
    there = torch.zeros(1, 2, H, W)
    there[:, 0] = 1.5  # a pan of the whole frame, 1.5 px to the right
    assert hidden_pixels(there, -there).sum() == 0  # the neighbour's flow brings every pixel back
    hidden = hidden_pixels(there, torch.zeros_like(there))[0, 0]  # it brings none back: 1.5 px off
    assert bool((hidden[:, : W - 2] == 1).all())
    assert bool((hidden[:, W - 1] == 0).all())  # lands outside the frame: not checked


def test_per_frame_scores_follow_a_swap_of_depth_during_the_clip():
    """Frames 0-3: channel 0 slides over channel 1; frames 4-7: the same motion with the two
    channels' parts swapped, so channel 1 is in front. The clip's one order cannot say both; the
    per-frame scores rank each end of the clip by the evidence near it."""
    amodal, flow = scene()
    swapped = amodal[:, :, [1, 0, 2]]
    clip_amodal, clip_flow = torch.cat([amodal, swapped], dim=1), torch.cat([flow, flow], dim=1)
    scores = occlusion_order(clip_amodal, clip_flow, per_frame=True)[0]  # (2T, 3)
    assert scores.shape == (2 * T, 3)
    for t in (0, 1):
        assert scores[t, 0] < scores[t, 1], f"frame {t}"
    for t in (2 * T - 2, 2 * T - 1):
        assert scores[t, 1] < scores[t, 0], f"frame {t}"
    one = occlusion_order(amodal[:, :1], flow[:, :1], per_frame=True)
    assert torch.equal(one, torch.zeros(1, 1, 3))


def test_a_frame_is_read_from_the_steps_into_and_out_of_it_and_a_small_share_of_the_clip():
    """Frame t's scores come from the steps t - 1 -> t and t -> t + 1 (one at the clip's ends),
    plus CLIP_SHARE of the whole clip's evidence, which only decides frames without their own."""
    amodal, flow = scene()
    swapped = amodal[:, :, [1, 0, 2]]
    clip_amodal, clip_flow = torch.cat([amodal, swapped], dim=1), torch.cat([flow, flow], dim=1)
    steps = step_evidence(clip_amodal, clip_flow)[0]  # (2T - 1, 3, 3)
    scores = occlusion_order(clip_amodal, clip_flow, per_frame=True)[0]
    for t in range(2 * T):
        local = steps[max(t - 1, 0):t + 1].sum(0)
        torch.testing.assert_close(scores[t], scores_of(local + CLIP_SHARE * steps.sum(0)))
    assert 0 < CLIP_SHARE < 0.1


def test_the_scores_carry_no_gradient():
    prob = torch.rand(1, 3, 2, 8, 8, requires_grad=True)
    assert not occlusion_order(prob, torch.randn(1, 3, 4, 8, 8)).requires_grad


def test_the_occlusion_head_has_no_parameters_and_reads_the_order_off_its_own_masks():
    torch.manual_seed(0)
    net = build_model("tiny", height=32, width=32, frames=3, order_head="occlusion").eval()
    assert net.order_head is None and count_parameters(net)["order_head"] == 0
    flow = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        logits, order = net(flow)
    assert order.shape == (2, net.cfg.num_objects)
    torch.testing.assert_close(order, occlusion_order(torch.sigmoid(logits), flow))
    net = build_model("tiny", height=32, width=32, frames=3, order_head="occlusion_frame").eval()
    with torch.no_grad():
        logits, order = net(flow)
    assert order.shape == (2, 3, net.cfg.num_objects)
    torch.testing.assert_close(order, occlusion_order(torch.sigmoid(logits), flow,
                                                      per_frame=True))
