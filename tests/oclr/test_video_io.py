import numpy as np
import pytest
from oclr.video_io import MediaError, open_frames, open_source, open_video, open_writer, overlay
from PIL import Image


def gradient_frames(n=5, h=32, w=48):
    """(n, h, w, 3) uint8 frames with a bright square moving right (survives JPEG)."""
    frames = np.full((n, h, w, 3), 40, np.uint8)
    for t in range(n):
        frames[t, 8:20, 4 + 4 * t:16 + 4 * t] = 220
    return frames


def write_folder(folder, frames, suffix=".jpg"):
    folder.mkdir(parents=True, exist_ok=True)
    for t, rgb in enumerate(frames):
        Image.fromarray(rgb).save(folder / f"{t:05d}{suffix}")
    return folder


def test_a_frame_folder_is_read_in_name_order_with_its_stems(tmp_path):
    frames = gradient_frames()
    source = open_frames(write_folder(tmp_path / "f", frames, ".png"))
    assert source.names == ("00000", "00001", "00002", "00003", "00004")
    assert (source.height, source.width) == (32, 48)
    assert np.array_equal(source.read_all(), frames)


def test_a_frame_of_another_size_is_named_in_the_error(tmp_path):
    folder = write_folder(tmp_path / "f", gradient_frames(2))
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(folder / "00002.jpg")
    with pytest.raises(MediaError, match="00002"):
        open_frames(folder).read_all()


def test_missing_or_empty_inputs_raise_media_errors_naming_the_path(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(MediaError, match="empty"):
        open_frames(tmp_path / "empty")
    with pytest.raises(MediaError, match="nope.mp4"):
        open_video(tmp_path / "nope.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    with pytest.raises(MediaError, match="junk.mp4"):
        open_video(tmp_path / "junk.mp4")
    with pytest.raises(MediaError):
        open_source(None, None)


@pytest.mark.parametrize("backend", ["ffmpeg", "cv2"])
def test_an_mp4_written_then_read_back_keeps_frame_count_size_and_content(tmp_path, backend):
    frames = gradient_frames(n=7)
    with open_writer(tmp_path / "clip.mp4", fps=10, backend=backend) as writer:
        for rgb in frames:
            writer.append(rgb)
    source = open_video(writer.path)
    assert len(source) == 7 and (source.height, source.width) == (32, 48)
    back = source.read_all()
    assert np.abs(back.astype(int) - frames.astype(int)).mean() < 12


def test_the_gif_fallback_writes_a_gif_beside_the_requested_path(tmp_path):
    with open_writer(tmp_path / "overlay.mp4", fps=5, backend="gif") as writer:
        for rgb in gradient_frames(n=3):
            writer.append(rgb)
    assert writer.path == tmp_path / "overlay.gif"
    with Image.open(writer.path) as gif:
        assert gif.n_frames == 3


def test_overlay_colours_only_labelled_pixels():
    rgb = np.full((2, 2, 3), 100, np.uint8)
    labels = np.array([[0, 1], [2, 0]])
    palette = np.array([[0, 0, 0], [200, 0, 0], [0, 200, 0]], np.uint8)
    out = overlay(rgb, labels, palette, alpha=0.5)
    assert out[0, 0].tolist() == [100, 100, 100]
    assert out[0, 1].tolist() == [150, 50, 50]
    assert out[1, 0].tolist() == [50, 150, 50]
