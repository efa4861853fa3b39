"""estimators.base: where a clip becomes frame pairs and pair flows become (T, 2, H, W, 2)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layersynth.estimators.base import FlowEstimator, assemble, clip_pairs


class FrameIdEstimator(FlowEstimator):
    """Stand-in whose flow names its pair: u = source frame id, v = destination id - source id.

    Frames are constant images whose grey level is the frame id.
    """

    name = "ids"

    def estimate_pairs(self, src, dst):
        u = src[..., 0].astype(np.float32)
        v = dst[..., 0].astype(np.float32) - u
        return np.stack([u, v], axis=-1)


def id_clip(t: int, h: int = 3, w: int = 4) -> np.ndarray:
    return np.broadcast_to(np.arange(t, dtype=np.uint8)[:, None, None, None], (t, h, w, 3)).copy()


@settings(max_examples=15, deadline=None)
@given(t=st.integers(2, 9))
def test_each_gap_holds_the_flow_of_its_own_frame_pair(t):
    flow = FrameIdEstimator().estimate(id_clip(t))
    assert flow.shape == (t, 2, 3, 4, 2) and flow.dtype == np.float32
    for i in range(t - 1):
        assert np.all(flow[i, 0] == [i, 1])
    for i in range(1, t):
        assert np.all(flow[i, 1] == [i, -1])


@settings(max_examples=15, deadline=None)
@given(t=st.integers(2, 9))
def test_missing_flow_at_the_clip_ends_is_the_negated_opposite_gap(t):
    flow = FrameIdEstimator().estimate(id_clip(t))
    np.testing.assert_array_equal(flow[-1, 0], -flow[-1, 1])
    np.testing.assert_array_equal(flow[0, 1], -flow[0, 0])


def test_several_clips_in_one_stream_match_one_clip_at_a_time():
    est = FrameIdEstimator()
    clips = [id_clip(3), id_clip(5), id_clip(2)]
    for joint, clip in zip(est.estimate_many(clips), clips, strict=True):
        np.testing.assert_array_equal(joint, est.estimate(clip))
    assert est.estimate_many([]) == []


def test_a_single_frame_or_a_float_clip_is_refused():
    with pytest.raises(ValueError, match="T>=2"):
        FrameIdEstimator().estimate(id_clip(1))
    with pytest.raises(ValueError, match="uint8"):
        FrameIdEstimator().estimate(id_clip(3).astype(np.float32))


def test_a_clip_of_t_frames_gives_forward_then_backward_pairs():
    src, dst = clip_pairs(id_clip(4))
    assert src.shape == dst.shape == (6, 3, 4, 3)
    assert src[:, 0, 0, 0].tolist() == [0, 1, 2, 1, 2, 3]
    assert dst[:, 0, 0, 0].tolist() == [1, 2, 3, 0, 1, 2]


def test_assemble_puts_each_pair_flow_at_its_source_frame_and_gap():
    pair_flows = np.arange(6, dtype=np.float32)[:, None, None, None] * np.ones((6, 1, 1, 2))
    out = assemble(pair_flows, 4)
    assert out[:3, 0, 0, 0, 0].tolist() == [0, 1, 2] and out[1:, 1, 0, 0, 0].tolist() == [3, 4, 5]
