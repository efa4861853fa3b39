"""OpenCV DIS: recovers known translations, runs on every preset and on small frames."""

import cv2
import numpy as np
import pytest
from layersynth.errors import UsageError
from layersynth.estimators.dis import DIS_PRESETS, DisConfig, DisEstimator
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
