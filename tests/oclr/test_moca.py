import numpy as np
import pytest
from oclr.davis_io import MaskFormatError, write_label_png
from oclr.moca import (
    box_from_mask,
    box_iou,
    evaluate_moca,
    foreground_is_inverted,
    mask_box_iou,
    parse_annotations,
    read_grey_mask,
    rescale_box,
    success_rates,
)
from PIL import Image

CSV = """\
,file_list,spatial_coordinates,temporal_coordinates
0,/seqA/00005.jpg,"[2, 10, 20, 30, 40]","{""1"": ""1""}"
1,/seqA/00000.jpg,"[2, -5, 3, 30, 40]","{""1"": ""0""}"
2,/seqA/00003.jpg,[],{}
3,/seqA/00004.jpg,"[2, 1, 2, 3, 4]",{}
4,/seqB/00000.jpg,"[2, 0, 0, 8, 8]","{""1"": ""2""}"
"""


def test_csv_rows_are_sorted_empty_boxes_skipped_and_empty_motion_inherited(tmp_path):
    (tmp_path / "a.csv").write_text(CSV)
    ann = parse_annotations(tmp_path / "a.csv")
    assert sorted(ann) == ["seqA", "seqB"]
    assert sorted(ann["seqA"]) == ["00000", "00004", "00005"]
    assert ann["seqA"]["00004"].motion == "0"  # from 00000, the previous kept row
    assert ann["seqA"]["00005"].motion == "1"
    assert ann["seqA"]["00005"].box == (10, 20, 40, 60)


def test_csv_negative_corner_is_clipped_and_the_box_keeps_its_width(tmp_path):
    (tmp_path / "a.csv").write_text(CSV)
    assert parse_annotations(tmp_path / "a.csv")["seqA"]["00000"].box == (0, 3, 30, 43)


def test_malformed_csv_row_is_an_error_naming_the_file(tmp_path):
    (tmp_path / "a.csv").write_text(",f,b,m\n0,/s/00000.jpg,[2 1,{}\n")
    with pytest.raises(MaskFormatError, match="a.csv: row 0"):
        parse_annotations(tmp_path / "a.csv")


def test_box_iou_on_hand_cases():
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)
    assert box_iou((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert box_iou((0, 0, 10, 10), (2, 2, 4, 4)) == pytest.approx(4 / 100)


def test_box_from_mask_takes_the_contour_with_the_largest_box_not_the_largest_area():
    grey = np.zeros((60, 80), np.uint8)
    grey[5:15, 5:15] = 255  # area 100, box 100
    grey[30:50, 40] = 255  # a thin L: area 39, box 20 x 20 = 400
    grey[49, 40:60] = 255
    assert box_from_mask(grey) == (40, 30, 60, 50)


def test_box_from_mask_thresholds_at_a_tenth_of_255_and_has_none_without_contour():
    grey = np.zeros((20, 20), np.uint8)
    grey[2:5, 2:5] = 25
    assert box_from_mask(grey) is None
    grey[2:5, 2:5] = 26
    assert box_from_mask(grey) == (2, 2, 5, 5)


def test_mask_whose_border_is_mostly_foreground_is_inverted():
    grey = np.full((20, 30), 255, np.uint8)
    grey[5:9, 10:20] = 0
    assert foreground_is_inverted(grey)
    assert box_from_mask(grey) == (10, 5, 20, 9)
    grey[0, :] = 0  # 30 of 96 border pixels background: still more than half foreground
    assert foreground_is_inverted(grey)
    assert not foreground_is_inverted(np.zeros((20, 30), np.uint8))


def test_box_is_rescaled_to_the_frame_size_when_the_mask_is_smaller():
    assert rescale_box((1, 2, 3, 4), (50, 100), (100, 300)) == (3, 4, 9, 8)
    grey = np.zeros((50, 100), np.uint8)
    grey[10:20, 10:20] = 255
    assert mask_box_iou(grey, (30, 20, 60, 40), (100, 300)) == pytest.approx(1.0)
    assert mask_box_iou(np.zeros((50, 100), np.uint8), (0, 0, 5, 5), None) == 0.0


def test_success_is_strictly_above_each_threshold():
    rates = success_rates([0.5, 0.55, 0.95, 0.0])
    assert rates == {"0.5": 0.5, "0.6": 0.25, "0.7": 0.25, "0.8": 0.25, "0.9": 0.25}


def test_palette_prediction_reads_as_255_wherever_an_object_is(tmp_path):
    labels = np.zeros((6, 6), np.uint8)
    labels[1:3, 1:3], labels[4, 4] = 1, 3
    write_label_png(tmp_path / "p.png", labels)
    np.testing.assert_array_equal(read_grey_mask(tmp_path / "p.png"), (labels > 0) * 255)


def write_moca(tmp_path):
    """seqA: 2 annotated frames at 100 x 200 (JPEG), masks at 50 x 100; seqB: 1 frame."""
    (tmp_path / "a.csv").write_text(
        ",f,b,m\n"
        '0,/seqA/00000.jpg,"[2, 20, 20, 20, 20]","{""1"": ""0""}"\n'  # mask box x2: exact
        '1,/seqA/00001.jpg,"[2, 20, 20, 20, 40]",{}\n'  # IoU exactly 0.5: no success
        '2,/seqB/00000.jpg,"[2, 0, 0, 10, 10]","{""1"": ""2""}"\n'  # empty mask: IoU 0
    )
    for seq, n in (("seqA", 2), ("seqB", 1)):
        (tmp_path / "pred" / seq).mkdir(parents=True)
        (tmp_path / "jpg" / seq).mkdir(parents=True)
        for t in range(n):
            labels = np.zeros((50, 100), np.uint8)
            if seq == "seqA":
                labels[10:20, 10:20] = 1
            write_label_png(tmp_path / "pred" / seq / f"{t:05d}.png", labels)
            Image.new("RGB", (200, 100)).save(tmp_path / "jpg" / seq / f"{t:05d}.jpg")


def test_evaluate_moca_pools_frames_of_all_sequences(tmp_path):
    write_moca(tmp_path)
    ann = parse_annotations(tmp_path / "a.csv")
    out = evaluate_moca(ann, tmp_path / "pred", tmp_path / "jpg")
    assert out["n_frames"] == 3
    assert out["success"]["0.5"] == pytest.approx(1 / 3)
    assert out["success"]["0.9"] == pytest.approx(1 / 3)
    assert out["SR"] == pytest.approx(1 / 3)
    assert out["mean_iou"] == pytest.approx(1.5 / 3)
    assert out["by_motion"]["locomotion"]["n_frames"] == 2
    assert out["sequences"]["seqB"]["mean_iou"] == 0.0


def test_evaluate_moca_refuses_a_missing_mask(tmp_path):
    write_moca(tmp_path)
    (tmp_path / "pred" / "seqB" / "00000.png").unlink()
    ann = parse_annotations(tmp_path / "a.csv")
    with pytest.raises(MaskFormatError, match="seqB/00000.png: missing"):
        evaluate_moca(ann, tmp_path / "pred", tmp_path / "jpg")
