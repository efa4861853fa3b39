import imageio.v3 as iio
import numpy as np
import pytest
from layersynth.viz import preview
from layersynth.viz.preview import column_titles, contact_sheet, frames, palette, write_preview


def sequence(k=2, t=5, h=16, w=24):
    rng = np.random.default_rng(0)
    amodal = rng.random((k, t, h, w)) < 0.3
    return {"rgb": rng.integers(0, 256, (t, h, w, 3), dtype=np.uint8), "amodal": amodal,
            "modal": np.where(amodal[0], 1, 0).astype(np.uint8),
            "occluder": np.zeros((t, h, w), bool),
            "flow_gt": rng.normal(0, 2, (t, 2, h, w, 2)).astype(np.float32)}


def test_each_frame_row_shows_rgb_flow_modal_and_every_amodal_layer():
    rows = frames(sequence(k=3))
    assert len(rows) == 5 and rows[0].shape == (16, 24 * 6 + 16, 3)
    np.testing.assert_array_equal(rows[1][:, :24], sequence(k=3)["rgb"][1])
    amodal_tile = rows[0][:, 24 * 5 + 16 :, 0]
    np.testing.assert_array_equal(amodal_tile > 0, sequence(k=3)["amodal"][2, 0])
    assert column_titles(2) == ["rgb", "edge x8", "flow +1", "modal", "amodal 0", "amodal 1"]


def test_the_edge_tile_magnifies_the_pixels_around_an_object_edge_nearest_the_centre():
    h, w = 32, 40
    modal = np.zeros((h, w), np.uint8)
    modal[:, 25:] = 1  # an object's left edge at columns 24 | 25
    modal[0:3, 0:3] = 2  # a far smaller edge
    rgb = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    assert preview.edge_pixel(modal) in {(15, 24), (15, 25), (16, 24), (16, 25)}
    tile = preview.edge_zoom(rgb, modal)
    assert tile.shape == (h, h, 3)
    r, c = preview.edge_pixel(modal)
    crop = rgb[r - 2:r + 2, c - 2:c + 2]  # H // 8 = 4 pixels, each 8 x 8
    np.testing.assert_array_equal(tile, np.repeat(np.repeat(crop, 8, 0), 8, 1))


def test_the_contact_sheet_stacks_at_most_max_rows_frames_under_a_header():
    sheet = contact_sheet(sequence(t=12), max_rows=4)
    assert sheet.shape == (14 + 4 * 16, 24 * 5 + 16, 3)


def test_the_palette_gives_background_black_and_distinct_labels():
    p = palette(8)
    assert tuple(p[0]) == (0, 0, 0) and tuple(p[1]) == (128, 0, 0)
    assert len({tuple(c) for c in p}) == 8


@pytest.mark.parametrize("ext", [".png", ".gif", ".mp4"])
def test_previews_are_written_in_the_format_of_the_extension(tmp_path, ext):
    out = write_preview(sequence(), tmp_path / f"p{ext}")
    image = iio.imread(out, index=None)
    if ext == ".png":
        assert image.shape == (14 + 5 * 16, 24 * 5 + 16, 3)
    else:
        assert image.shape[0] == 5  # one animation frame per sequence frame
    with pytest.raises(ValueError, match="unknown preview format"):
        write_preview(sequence(), tmp_path / "p.tiff")


def test_a_failed_preview_leaves_no_file_and_an_earlier_one_intact(tmp_path, monkeypatch):
    earlier = write_preview(sequence(), tmp_path / "p.gif").read_bytes()
    real, calls = preview.frame_row, []

    def third_frame_fails(*args):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(*args)

    monkeypatch.setattr(preview, "frame_row", third_frame_fails)
    with pytest.raises(OSError) as caught:
        write_preview(sequence(), tmp_path / "p.gif")
    assert caught.value.filename == str(tmp_path / "p.gif")
    assert [p.name for p in tmp_path.iterdir()] == ["p.gif"]
    assert (tmp_path / "p.gif").read_bytes() == earlier


def test_a_frame_rate_that_is_not_positive_is_refused(tmp_path):
    with pytest.raises(ValueError, match="fps: must be positive, got -5"):
        write_preview(sequence(), tmp_path / "p.gif", fps=-5)
    assert list(tmp_path.iterdir()) == []


def test_each_row_writes_its_frames_depth_order_on_the_modal_tile_front_first():
    seq = sequence(k=2, t=3)
    seq["order"] = np.array([[0, 1], [0, 1], [1, 0]], np.int16)  # channel 1 in front at frame 2
    assert [preview.order_text(seq["order"], t) for t in range(3)] == ["0>1", "0>1", "1>0"]
    assert preview.order_text(np.array([1, 0], np.int16), 0) == "1>0"  # one order per clip
    rows, plain = frames(seq), frames(sequence(k=2, t=3))
    modal = slice(2 * 24 + 16, 3 * 24 + 16)  # after rgb, its 16 x 16 edge zoom and the flow
    assert not np.array_equal(rows[2][:, modal], plain[2][:, modal])  # the text is drawn
    assert np.array_equal(rows[2][:, :modal.start], plain[2][:, :modal.start])
    assert np.array_equal(rows[2][:, modal.stop:], plain[2][:, modal.stop:])
