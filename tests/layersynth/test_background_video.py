"""Background videos: clip discovery, windows (crop + time), ping-pong, caching, bad files."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from layersynth.assets import background_video as bv
from PIL import Image

H, W = 48, 64


def write_video(path, n=12):
    path.parent.mkdir(parents=True, exist_ok=True)
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (W, H))
    for i in range(n):
        out.write(np.full((H, W, 3), (200, 100, 20 * i), np.uint8))  # BGR order: red grows
    out.release()


def write_frames(folder, n=5):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(np.full((H, W, 3), (30 * i, 7, 9), np.uint8)).save(folder / f"{i:05d}.png")


def fake_tree(root):
    write_video(root / "clips" / "ramp.avi")
    write_frames(root / "seq_a")
    (root / "clips" / "broken.mp4").write_bytes(b"this is no video" * 10)
    return root


def full_window(clip_index, start=0, flip=False):
    return bv.VideoWindow(clip_index, start, 0, 0, H, W, flip)


def test_clips_are_found_in_video_files_and_frame_folders_and_broken_ones_are_named(tmp_path,
                                                                                  capsys):
    videos = bv.BackgroundVideos(fake_tree(tmp_path / "bg"))
    assert [(c.path, c.kind, c.frames, c.height, c.width) for c in videos.clips] == [
        ("clips/ramp.avi", "video", 12, H, W), ("seq_a", "frames", 5, H, W)]
    assert "clips/broken.mp4" in capsys.readouterr().err
    assert videos.describe()["frames"] == 17


def test_a_window_follows_the_clip_in_time_and_plays_short_clips_back_and_forth(tmp_path):
    videos = bv.BackgroundVideos(fake_tree(tmp_path / "bg"))
    seq = videos.frames(full_window(1, start=2), count=7, out_hw=(24, 32))
    assert seq.shape == (7, 24, 32, 3) and seq.dtype == np.uint8
    assert list(seq[:, 0, 0, 0] // 30) == [2, 3, 4, 3, 2, 1, 0]
    ramp = videos.frames(full_window(0, start=3), count=4, out_hw=(H, W))
    assert np.allclose(ramp[:, H // 2, W // 2, 0], [60, 80, 100, 120], atol=8)  # lossy codec


def test_frames_of_a_window_are_reproducible_and_flip_mirrors(tmp_path):
    root = tmp_path / "bg"
    folder = root / "grad"
    folder.mkdir(parents=True)
    for i in range(3):
        img = np.zeros((H, W, 3), np.uint8)
        img[:, : W // 2] = 255
        Image.fromarray(img).save(folder / f"{i}.png")
    videos = bv.BackgroundVideos(root)
    win = bv.VideoWindow(0, 0, 4, 8, 32, 40, False)
    a = videos.frames(win, 3, (16, 20))
    assert np.array_equal(a, videos.frames(win, 3, (16, 20)))
    flipped = videos.frames(bv.VideoWindow(0, 0, 4, 8, 32, 40, True), 3, (16, 20))
    assert np.array_equal(flipped, a[:, :, ::-1])


def test_the_clip_list_is_cached_and_not_probed_again(tmp_path, monkeypatch, capsys):
    root = fake_tree(tmp_path / "bg")
    first = bv.BackgroundVideos(root)
    capsys.readouterr()
    monkeypatch.setattr(bv, "probe_video", lambda p: pytest.fail("probed a cached clip"))
    again = bv.BackgroundVideos(root)
    assert again.clips == first.clips
    assert "clips/broken.mp4" in capsys.readouterr().err  # still named at every start


def test_a_folder_without_readable_clips_is_refused(tmp_path, capsys):
    (tmp_path / "bg").mkdir()
    (tmp_path / "bg" / "x.mp4").write_bytes(b"junk")
    with pytest.raises(ValueError, match="no readable videos"):
        bv.BackgroundVideos(tmp_path / "bg")
    assert "x.mp4" in capsys.readouterr().err


def test_get_serves_the_middle_frame_as_a_static_texture(tmp_path):
    videos = bv.BackgroundVideos(fake_tree(tmp_path / "bg"))
    assert videos.get(1)[0, 0, 0] == 60  # frame 2 of 5
    assert videos.get(1).flags.c_contiguous


def test_windows_round_trip_through_json(tmp_path):
    videos = bv.BackgroundVideos(fake_tree(tmp_path / "bg"))
    win = videos.sample(np.random.default_rng(3), 8, (24, 32))
    assert videos.window_from_dict(json.loads(json.dumps(win.to_dict()))) == win


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 12), start=st.integers(0, 30), count=st.integers(1, 40))
def test_pingpong_indices_stay_in_range_and_move_one_frame_at_a_time(n, start, count):
    idx = bv.pingpong(n, start, count)
    assert len(idx) == count and idx.min() >= 0 and idx.max() < n
    if n > 1:
        assert np.all(np.abs(np.diff(idx)) == 1)


@settings(max_examples=40, deadline=None)
@given(frames=st.integers(1, 50), ch=st.integers(16, 400), cw=st.integers(16, 400),
       count=st.integers(1, 40), seed=st.integers(0, 2**32 - 1))
def test_sampled_windows_lie_inside_the_clip(frames, ch, cw, count, seed):
    clip = bv.Clip("c", "video", frames, ch, cw)
    win = bv.sample_window(np.random.default_rng(seed), 0, clip, count, (32, 56))
    assert 0 <= win.y and win.y + win.h <= ch and 0 <= win.x and win.x + win.w <= cw
    assert 0 <= win.start <= max(frames - count, 0)
