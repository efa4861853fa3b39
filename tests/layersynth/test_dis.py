"""OpenCV DIS: recovers known translations, runs on every preset and on small frames, refuses
frames below the smallest size OpenCV takes."""

import cv2
import numpy as np
import pytest
from layersynth.errors import UsageError
from layersynth.estimators import check_clip_size, parse_device
from layersynth.estimators.dis import (
    DIS_PRESETS,
    MIN_LONG_SIDE,
    MIN_SIDE,
    DisConfig,
    DisEstimator,
    check_size,
)
from layersynth.estimators.epe import endpoint_error


def textured_clip(rng: np.random.Generator, shift: tuple[int, int], t: int = 4) -> np.ndarray:
    """(t, 128, 224, 3) crops of a smooth random texture whose content moves `shift` = (u, v) px
    a frame."""
    noise = cv2.GaussianBlur(rng.random((240, 340)).astype(np.float32), (0, 0), 2.0)
    grey = (128 + (noise - noise.mean()) / noise.std() * 40).clip(0, 255).astype(np.uint8)
    # Content moving by +shift is a crop window moving by -shift.
    tops = [60 - i * shift[1] for i in range(t)]
    lefts = [60 - i * shift[0] for i in range(t)]
    frames = [grey[y : y + 128, x : x + 224] for y, x in zip(tops, lefts, strict=True)]
    return np.repeat(np.stack(frames)[..., None], 3, axis=-1)


@pytest.mark.parametrize("shift", [(3, 2), (-2, 1)])
def test_dis_recovers_a_known_translation_within_half_a_pixel(shift):
    clip = textured_clip(np.random.default_rng(7), shift)
    flow = DisEstimator(DisConfig()).estimate(clip)[:, :, 8:-8, 8:-8]  # borders see new content
    assert endpoint_error(flow[:, 0], np.broadcast_to(np.float32(shift), flow[:, 0].shape)) < 0.5
    back = np.broadcast_to(-np.float32(shift), flow[:, 1].shape)
    assert endpoint_error(flow[:, 1], back) < 0.5


@pytest.mark.parametrize("preset", DIS_PRESETS)
def test_every_dis_preset_runs_on_a_frame_smaller_than_its_patches(preset):
    clip = textured_clip(np.random.default_rng(0), (1, 1), t=2)[:, :20, :24]
    flow = DisEstimator(DisConfig(preset)).estimate(np.ascontiguousarray(clip))
    assert flow.shape == (2, 2, 20, 24, 2) and np.isfinite(flow).all()


def test_an_unknown_dis_preset_is_a_usage_error_listing_the_presets():
    with pytest.raises(UsageError, match="unknown DIS preset 'slow'.*medium"):
        DisConfig("slow")


@pytest.mark.parametrize("height, width, ok", [
    (8, 12, True), (12, 8, True), (7, 9, False), (9, 7, False), (11, 11, False), (8, 11, False),
    (7, 64, False), (64, 64, True),
])
def test_frames_below_opencvs_smallest_dis_size_are_refused_naming_the_size(height, width, ok):
    clip = np.zeros((2, height, width, 3), np.uint8)
    est = DisEstimator(DisConfig())
    if ok:
        assert est.estimate(clip).shape == (2, 2, height, width, 2)
        check_size(height, width)
        return
    with pytest.raises(UsageError, match=f"DIS needs frames .*; these are {height}x{width}"):
        check_size(height, width)
    with pytest.raises(UsageError, match=f"{height}x{width}"):
        est.estimate(clip)


def test_the_size_rule_is_opencvs_own_on_every_preset():
    for preset in DIS_PRESETS:
        dis = cv2.DISOpticalFlow_create(getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{preset.upper()}"))
        for h in range(4, 20):
            for w in range(4, 20):
                grey = np.zeros((h, w), np.uint8)
                try:
                    dis.calc(grey, grey, None)
                    runs = True
                except cv2.error:
                    runs = False
                refused = min(h, w) < MIN_SIDE or max(h, w) < MIN_LONG_SIDE
                assert runs != refused, (preset, h, w)


def test_one_frame_is_refused_for_either_method_and_a_bad_device_name_too():
    with pytest.raises(UsageError, match="dis flow needs at least 2 frames a sequence, got T=1"):
        check_clip_size("dis", 1, 64, 64)
    with pytest.raises(UsageError, match="T=1"):
        check_clip_size("raft", 1, 64, 64)
    check_clip_size("raft", 2, 7, 9)  # RAFT upsamples small frames
    assert parse_device("cuda:1") == "cuda:1"
    with pytest.raises(ValueError, match="cpu, cuda or cuda:N"):
        parse_device("tpu9")
