import numpy as np
import pytest
from oclr.flowcache import (
    FlowSpec,
    cache_key,
    chunked,
    flow_input_for,
    shrink_frames,
    to_model_input,
)
from oclr.video_io import MediaError, open_frames
from PIL import Image


def textured_frames(n=7, h=48, w=64, seed=0):
    """(n, h, w, 3) uint8: a smooth random texture shifting 2 px right per frame."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (h // 4, (w + 4 * n) // 4, 3)).astype(np.uint8)
    big = np.asarray(Image.fromarray(base).resize(((w + 4 * n), h), Image.BILINEAR))
    return np.stack([big[:, 2 * n - 2 * t: 2 * n - 2 * t + w] for t in range(n)])


def write_pngs(folder, frames):
    folder.mkdir(parents=True, exist_ok=True)
    for t, rgb in enumerate(frames):
        Image.fromarray(rgb).save(folder / f"{t:05d}.png")
    return open_frames(folder)


class CountingEstimator:
    def __init__(self):
        from layersynth.estimators import build_estimator

        self.inner, self.calls = build_estimator("dis"), 0

    def estimate(self, rgb):
        self.calls += 1
        return self.inner.estimate(rgb)


def test_chunked_estimation_equals_estimating_the_whole_clip_at_once(tmp_path):
    frames = textured_frames(n=7)
    source = write_pngs(tmp_path / "f", frames)
    est = CountingEstimator()
    whole = to_model_input(est.inner.estimate(frames), 32, 48)
    for chunk in (2, 3, 6, 7, 50):
        spec = FlowSpec(height=32, width=48, chunk=chunk)
        assert np.allclose(flow_input_for(source, spec, None, est), whole, atol=1e-5), chunk


def test_chunks_cover_every_frame_once_with_a_neighbour_each_side():
    stream = ((str(t), np.full((2, 2, 3), t, np.uint8)) for t in range(10))
    kept = []
    for start, keep, offset, rgb in chunked(stream, 4):
        assert len(rgb) >= 2
        assert rgb[offset, 0, 0, 0] == start
        kept.extend(range(start, start + keep))
        assert rgb[-1, 0, 0, 0] == min(start + keep, 9)
    assert kept == list(range(10))


def test_model_input_is_resized_with_u_and_v_scaled_to_the_new_grid():
    flow = np.zeros((3, 2, 40, 80, 2), np.float32)
    flow[..., 0], flow[..., 1] = 4.0, -2.0
    x = to_model_input(flow, 20, 20)
    assert x.shape == (3, 4, 20, 20)
    assert np.allclose(x[:, [0, 2]], 1.0) and np.allclose(x[:, [1, 3]], -1.0)


def test_a_cached_flow_is_read_back_without_estimating_again(tmp_path):
    source = write_pngs(tmp_path / "f", textured_frames(n=5))
    spec = FlowSpec(height=32, width=48)
    est = CountingEstimator()
    first = np.array(flow_input_for(source, spec, tmp_path / "cache", est))
    calls = est.calls
    second = flow_input_for(source, spec, tmp_path / "cache", est)
    assert est.calls == calls and np.array_equal(first, second)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1


def test_the_cache_key_changes_with_method_size_and_frame_content(tmp_path):
    frames = textured_frames(n=4)
    source = write_pngs(tmp_path / "f", frames)
    key = cache_key(source, FlowSpec())
    assert key != cache_key(source, FlowSpec(method="raft"))
    assert key != cache_key(source, FlowSpec(height=64))
    Image.fromarray(frames[0][:, ::-1].copy()).save(tmp_path / "f" / "00001.png", compress_level=0)
    assert key != cache_key(open_frames(tmp_path / "f"), FlowSpec())


def test_a_single_frame_video_is_refused_naming_its_folder(tmp_path):
    source = write_pngs(tmp_path / "one", textured_frames(n=1))
    with pytest.raises(MediaError, match="one"):
        flow_input_for(source, FlowSpec(), None)


def test_shrunk_frames_keep_the_aspect_and_narrow_frames_are_left_alone():
    frames = textured_frames(n=2, h=48, w=64)
    small = shrink_frames(frames, 32)
    assert small.shape == (2, 24, 32, 3) and small.dtype == np.uint8
    assert shrink_frames(frames, 64) is frames and shrink_frames(frames, None) is frames
    # area averaging: a 2 x 2 block of the original becomes its mean
    block = frames[0, :2, :2].reshape(-1, 3).astype(float).mean(0)
    assert np.abs(small[0, 0, 0] - block).max() <= 1


def test_flow_from_shrunk_frames_is_in_model_pixels_and_cached_apart(tmp_path):
    # the texture moves 2 px right a frame at 128 px wide: 1 px of the 64-px model grid, whatever
    # width the flow was estimated at
    frames = textured_frames(n=5, h=96, w=128)
    source = write_pngs(tmp_path / "f", frames)
    full = flow_input_for(source, FlowSpec(height=48, width=64), None)
    half = flow_input_for(source, FlowSpec(height=48, width=64, flow_width=64), None)
    inner = (slice(1, 4), slice(None), slice(8, 40), slice(8, 56))  # away from borders and ends
    assert np.median(full[inner][:, 0]) == pytest.approx(1.0, abs=0.1)
    assert np.median(half[inner][:, 0]) == pytest.approx(1.0, abs=0.1)
    assert np.median(half[inner][:, 2]) == pytest.approx(-1.0, abs=0.1)
    assert cache_key(source, FlowSpec(flow_width=64)) != cache_key(source, FlowSpec())
    with pytest.raises(ValueError, match="flow width"):
        FlowSpec(flow_width=4)
