import dataclasses

import numpy as np
import oclr
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from oclr.config import ModelConfig
from oclr.infer import InferConfig, infer_flow, infer_video, paint_layers
from oclr.modal import compose_modal


class ShufflingModel(torch.nn.Module):
    """Reads an object-id map from flow channel 0 and the frame index from channel 1; gives object
    j in channel perm[j], perm drawn from the window's first frame (so each window shuffles its
    channels differently, like an unlinked network), and order score j for object j."""

    def __init__(self, frames=8, k=3, size=(16, 16)):
        super().__init__()
        self.cfg = ModelConfig(num_objects=k, frames=frames, height=size[0], width=size[1],
                               cnn_channels=(4, 4))

    def forward(self, flow):
        b, t, _, h, w = flow.shape
        k = self.cfg.num_objects
        logits = torch.empty(b, t, k, h, w)
        order = torch.empty(b, k)
        for i in range(b):
            first = int(flow[i, 0, 1, 0, 0])
            perm = torch.from_numpy(np.random.default_rng(first).permutation(k))
            for j in range(k):
                logits[i, :, perm[j]] = torch.where(flow[i, :, 0] == j + 1, 10.0, -10.0)
                order[i, perm[j]] = float(j)
        return logits, order


class FrameOrderModel(ShufflingModel):
    """ShufflingModel with a per-frame order head: object j at source frame f scores
    (j + f) % k, so the front-most object changes from frame to frame."""

    def forward(self, flow):
        logits, clip_order = super().forward(flow)
        frame = flow[:, :, 1, 0, 0]  # (B, T) source frame index
        return logits, (clip_order[:, None, :] + frame[:, :, None]) % self.cfg.num_objects


def object_video(n, k=3, size=16):
    """Network input (n, 4, size, size) carrying an id map of k moving bars; ids (n, size, size)."""
    ids = np.zeros((n, size, size), np.float32)
    for t in range(n):
        for j in range(k):
            ids[t, 5 * j:5 * j + 4, (t + 3 * j) % 12:(t + 3 * j) % 12 + 4] = j + 1
    flow = np.zeros((n, 4, size, size), np.float32)
    flow[:, 0], flow[:, 1] = ids, np.arange(n)[:, None, None]
    return flow, ids


@pytest.mark.parametrize("n", [5, 8, 21, 40])
def test_linked_inference_keeps_each_object_in_one_channel_across_windows(n):
    flow, ids = object_video(n)
    model = ShufflingModel()
    pred = infer_flow(model, flow, InferConfig())
    first = np.random.default_rng(0).permutation(3)  # window 0 keeps its own channel order
    for j in range(3):
        assert np.array_equal(pred.probs[first[j]] > 0.5, ids == j + 1)
    assert (len(pred.windows) > 1) == (n > 8)
    assert np.array_equal(pred.modal(), np.where(ids > 0, first[ids.astype(int) - 1] + 1, 0))


def test_reference_protocol_with_gt_puts_gt_object_j_in_channel_j():
    flow, ids = object_video(21)
    gt = np.stack([ids == j + 1 for j in range(3)])
    pred = infer_flow(ShufflingModel(), flow, InferConfig(protocol="reference"), gt_masks=gt)
    assert [w.start for w in pred.windows] == [0, 8, 13]
    assert np.array_equal(pred.probs > 0.5, gt)
    assert np.array_equal(pred.order, np.tile(np.arange(3, dtype=np.float32), (21, 1)))


def test_reference_protocol_without_gt_keeps_each_windows_channel_order():
    flow, ids = object_video(21)
    pred = infer_flow(ShufflingModel(), flow, InferConfig(protocol="reference"))
    for window in pred.windows:
        shuffle = np.random.default_rng(window.start).permutation(3)
        own = slice(window.own_start, window.own_stop)
        for j in range(3):
            assert np.array_equal(pred.probs[shuffle[j], own] > 0.5, ids[own] == j + 1)


@pytest.mark.parametrize("protocol", ["linked", "reference"])
def test_per_frame_order_scores_follow_their_objects_into_every_owned_frame(protocol):
    flow, ids = object_video(21)
    gt = np.stack([ids == j + 1 for j in range(3)])
    pred = infer_flow(FrameOrderModel(), flow, InferConfig(protocol=protocol), gt_masks=gt)
    assert len(pred.windows) > 1
    for j in range(3):
        channel = int(np.flatnonzero([(pred.probs[c, 0] > 0.5).any() and np.array_equal(
            pred.probs[c] > 0.5, gt[j]) for c in range(3)])[0])
        assert pred.order[:, channel].tolist() == [(j + f) % 3 for f in range(21)]


def test_an_unknown_protocol_is_refused():
    with pytest.raises(ValueError):
        InferConfig(protocol="oracle")


def test_a_frame_upsampled_to_the_video_size_keeps_its_objects():
    flow, ids = object_video(6)
    pred = infer_flow(ShufflingModel(), flow, InferConfig())
    labels, amodal = pred.frame(2, 32, 48)
    assert labels.shape == (32, 48) and amodal.shape == (3, 32, 48) and labels.dtype == np.uint8
    assert set(np.unique(labels)) == set(np.unique(pred.modal()[2]))


def test_infer_video_runs_a_real_network_on_rgb_frames_of_any_length():
    model = oclr.build_model("tiny", frames=4, height=32, width=48).eval()
    frames = np.random.default_rng(1).integers(0, 255, (9, 24, 40, 3), dtype=np.uint8)
    labels, amodal, pred = infer_video(model, frames)
    assert labels.shape == (9, 24, 40) and labels.dtype == np.uint8
    assert amodal.shape == (3, 9, 24, 40) and amodal.dtype == bool
    assert labels.max() <= 3 and pred.probs.shape == (3, 9, 32, 48)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 4), ties=st.booleans())
def test_painting_layers_back_to_front_equals_compose_modal(seed, k, ties):
    rng = np.random.default_rng(seed)
    prob = rng.random((k, 6, 7)).astype(np.float32)
    order = rng.integers(0, 2, k).astype(np.float32) if ties else rng.normal(size=k)
    expected = compose_modal(prob, order)
    assert np.array_equal(paint_layers(prob > 0.5, order), expected)


class TwinModel(ShufflingModel):
    """Object 1 of ShufflingModel's bars a second time in the last channel, less sure (0.73
    against ~1) and ranked in front of everything."""

    def __init__(self, copies):
        super().__init__(k=4)
        self.cfg = ModelConfig(num_objects=4, frames=8, height=16, width=16, cnn_channels=(4, 4),
                               copies=copies)

    def forward(self, flow):
        logits = torch.where(flow[:, :, None, 0] == torch.arange(1, 5).view(1, 1, 4, 1, 1),
                             10.0, -10.0)
        logits[:, :, 3] = torch.where(flow[:, :, 0] == 1, 1.0, -10.0)
        return logits, torch.tensor([[1.0, 2.0, 3.0, 0.0]]).expand(len(flow), -1)


@pytest.mark.parametrize("copies", ["keep", "drop"])
def test_inference_drops_a_layer_that_copies_a_surer_one_when_the_model_says_so(copies):
    flow, ids = object_video(12)
    pred = infer_flow(TwinModel(copies), flow, InferConfig())
    modal = pred.modal()
    if copies == "keep":  # the twin in front takes object 1's pixels
        assert bool((modal[ids == 1] == 4).all())
        assert pred.probs[3].max() > 0.5
    else:
        np.testing.assert_array_equal(modal, ids.astype(np.uint8))
        assert pred.probs[3].max() == 0


class SpareModel(TwinModel):
    """TwinModel with an objectness head that calls the twin (channel 3) spare."""

    def __init__(self, spares):
        super().__init__("keep")
        self.cfg = dataclasses.replace(self.cfg, objectness=True, spares=spares)

    def forward(self, flow, objectness=False):
        out = super().forward(flow)
        spare = torch.tensor([[2.0, 2.0, 2.0, -2.0]]).expand(len(flow), -1)
        return (*out, spare) if objectness else out


@pytest.mark.parametrize("spares", ["keep", "drop", "behind"])
def test_inference_empties_or_moves_back_the_layers_the_objectness_head_calls_spare(spares):
    flow, ids = object_video(12)
    pred = infer_flow(SpareModel(spares), flow, InferConfig())
    modal = pred.modal()
    if spares == "keep":  # as without the head: the twin in front takes object 1's pixels
        assert bool((modal[ids == 1] == 4).all())
    else:  # emptied, or behind object 1's own layer
        np.testing.assert_array_equal(modal, ids.astype(np.uint8))
        assert (pred.probs[3].max() == 0) == (spares == "drop")
