"""Flow estimators: the clip <-> pairs layout, OpenCV DIS, EPE and boundary masks, the builder."""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layersynth.errors import UsageError
from layersynth.estimators import (
    EpeMeter,
    FlowEstimator,
    boundary_mask,
    build_estimator,
    endpoint_error,
)
from layersynth.estimators.dis import DisConfig, DisEstimator


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


def textured_clip(rng: np.random.Generator, shift: tuple[int, int], t: int = 4) -> np.ndarray:
    """(t, 128, 224, 3) crops of a smooth random texture whose content moves `shift` = (u, v) px
    a frame."""
    import cv2

    noise = cv2.GaussianBlur(rng.random((240, 340)).astype(np.float32), (0, 0), 2.0)
    grey = (128 + (noise - noise.mean()) / noise.std() * 40).clip(0, 255).astype(np.uint8)
    # Content moving by +shift is a crop window moving by -shift.
    tops = [60 - i * shift[1] for i in range(t)]
    lefts = [60 - i * shift[0] for i in range(t)]
    frames = [grey[y : y + 128, x : x + 224] for y, x in zip(tops, lefts, strict=True)]
    return np.repeat(np.stack(frames)[..., None], 3, axis=-1)


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


def test_a_single_frame_or_a_float_clip_is_refused():
    with pytest.raises(ValueError, match="T>=2"):
        FrameIdEstimator().estimate(id_clip(1))
    with pytest.raises(ValueError, match="uint8"):
        FrameIdEstimator().estimate(id_clip(3).astype(np.float32))


@pytest.mark.parametrize("shift", [(3, 2), (-2, 1)])
def test_dis_recovers_a_known_translation_within_half_a_pixel(shift):
    clip = textured_clip(np.random.default_rng(7), shift)
    flow = build_estimator("dis").estimate(clip)[:, :, 8:-8, 8:-8]  # borders see new content
    assert endpoint_error(flow[:, 0], np.broadcast_to(np.float32(shift), flow[:, 0].shape)) < 0.5
    back = np.broadcast_to(-np.float32(shift), flow[:, 1].shape)
    assert endpoint_error(flow[:, 1], back) < 0.5


@pytest.mark.parametrize("preset", ["ultrafast", "fast", "medium"])
def test_every_dis_preset_runs_on_a_frame_smaller_than_its_patches(preset):
    clip = textured_clip(np.random.default_rng(0), (1, 1), t=2)[:, :20, :24]
    flow = DisEstimator(DisConfig(preset)).estimate(np.ascontiguousarray(clip))
    assert flow.shape == (2, 2, 20, 24, 2) and np.isfinite(flow).all()


def test_unknown_method_or_dis_preset_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown flow method 'farneback'"):
        build_estimator("farneback")
    with pytest.raises(UsageError, match="preset"):
        DisConfig("slow")


def test_endpoint_error_is_the_mean_vector_distance_over_the_mask():
    gt = np.zeros((2, 2, 4, 5, 2), np.float32)
    est = gt.copy()
    est[0, :, 0, 0] = [3.0, 4.0]  # error 5 px at one pixel of frame 0, both gaps
    mask = np.zeros((2, 4, 5), bool)
    mask[0, 0, :2] = True
    assert endpoint_error(est, gt) == pytest.approx(10 / 80)
    assert endpoint_error(est, gt, mask) == pytest.approx(2.5)
    assert np.isnan(endpoint_error(est, gt, np.zeros((2, 4, 5), bool)))


def test_boundary_mask_marks_pixels_within_the_width_of_a_label_change():
    modal = np.zeros((1, 9, 12), np.uint8)
    modal[0, :, 6:] = 2
    got = boundary_mask(modal, width=2)[0]
    cols = np.flatnonzero(got[4])
    np.testing.assert_array_equal(cols, [4, 5, 6, 7])  # 2 px either side of the edge at 5|6
    assert got.all(axis=0)[cols].all()
    assert not boundary_mask(np.ones((2, 5, 5), np.uint8)).any()


def test_epe_meter_weighs_sequences_by_their_pixels():
    meter = EpeMeter(width=1)
    modal = np.zeros((2, 4, 4), np.uint8)
    modal[:, :, 2:] = 1
    gt = np.zeros((2, 2, 4, 4, 2), np.float32)
    meter.add(gt + [1.0, 0.0], gt, modal)
    meter.add(np.zeros((2, 2, 4, 8, 2), np.float32), np.zeros((2, 2, 4, 8, 2), np.float32),
              np.zeros((2, 4, 8), np.uint8))
    out = meter.result()
    assert out["pixels"] == 64 + 128
    assert out["epe"] == pytest.approx(64 / 192)
    assert out["epe_boundary"] == pytest.approx(1.0)  # only the first sequence has boundaries


def test_importing_the_estimators_loads_no_torch_ptlflow_or_opencv():
    code = (
        "import sys, layersynth.estimators, layersynth.estimators.raft, layersynth.estimators.dis;"
        "print(sorted(m for m in ('torch', 'ptlflow', 'cv2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
