import numpy as np
import pytest
from oclr.davis_io import MaskFormatError, write_label_png
from oclr.evaluate import EvalConfig, evaluate_folders, format_table, score_sequence
from PIL import Image

H, W = 24, 32


def two_objects(t: int = 0) -> np.ndarray:
    labels = np.zeros((H, W), np.uint8)
    labels[2:10, 2 + t : 10 + t] = 1
    labels[14:22, 18:28] = 2
    return labels


def write_seq(root, seq, frames):
    (root / seq).mkdir(parents=True, exist_ok=True)
    for t, labels in enumerate(frames):
        write_label_png(root / seq / f"{t:05d}.png", labels)


def swap(labels):
    out = labels.copy()
    out[labels == 1], out[labels == 2] = 2, 1
    return out


def test_perfect_predictions_score_one(tmp_path):
    gt = [two_objects(t) for t in range(3)]
    write_seq(tmp_path / "gt", "s", gt)
    write_seq(tmp_path / "pred", "s", gt)
    out = evaluate_folders(tmp_path / "pred", tmp_path / "gt")
    assert (out["J"], out["F"], out["J&F"]) == (1.0, 1.0, 1.0)
    assert out["mode"] == "multi-object" and out["n_objects"] == 2 and out["n_frames"] == 3


def test_swapped_ids_are_matched_back_and_score_one(tmp_path):
    gt = [two_objects(t) for t in range(3)]
    write_seq(tmp_path / "gt", "s", gt)
    write_seq(tmp_path / "pred", "s", [swap(g) for g in gt])
    out = evaluate_folders(tmp_path / "pred", tmp_path / "gt")
    assert out["J&F"] == 1.0
    objects = out["sequences"]["s"]["objects"]
    assert (objects["1"]["pred_id"], objects["2"]["pred_id"]) == (2, 1)


def test_unmatched_ground_truth_object_scores_zero_and_extra_ids_cost_nothing():
    gt = np.stack([two_objects(t) for t in range(4)])
    only_first = np.where(gt == 1, 1, 0).astype(np.uint8)
    s = score_sequence(only_first, gt, merge_objects=False)
    assert s.pred_ids == (1, None)
    np.testing.assert_array_equal(s.j[1], 0.0)
    np.testing.assert_array_equal(s.f[1], 0.0)
    extra = gt.copy()
    extra[:, 0:2, 28:32] = 7  # a stray id far from both objects
    s = score_sequence(extra, gt, merge_objects=False)
    assert s.j.min() == 1.0 and s.pred_ids == (1, 2)


def test_ground_truth_ids_absent_from_the_first_frame_are_background():
    gt = np.stack([np.where(two_objects() == 1, 1, 0), two_objects()]).astype(np.uint8)
    pred = np.where(gt == 1, 1, 0).astype(np.uint8)
    s = score_sequence(pred, gt, merge_objects=False)
    assert s.j.shape == (1, 2) and s.j.min() == 1.0


def test_void_pixels_in_the_ground_truth_are_not_scored():
    gt = two_objects()
    gt[0:2, :] = 255
    pred = two_objects()
    pred[0:2, :] = 1  # prediction on void
    s = score_sequence(pred[None], gt[None], merge_objects=False)
    assert s.j.min() == 1.0 and s.f.min() == 1.0


def test_merged_mode_scores_all_ids_as_one_foreground(tmp_path):
    gt = [two_objects(t) for t in range(2)]
    write_seq(tmp_path / "gt", "s", gt)
    write_seq(tmp_path / "pred", "s", [(g > 0).astype(np.uint8) for g in gt])
    multi = evaluate_folders(tmp_path / "pred", tmp_path / "gt")
    merged = evaluate_folders(tmp_path / "pred", tmp_path / "gt", EvalConfig(merge_objects=True))
    assert multi["J"] < 1.0
    assert merged["J"] == 1.0 and merged["mode"] == "merged" and merged["n_objects"] == 1


def test_merged_mode_reports_per_sequence_and_per_frame_means_under_their_own_names(tmp_path):
    obj = (two_objects() == 1).astype(np.uint8)
    write_seq(tmp_path / "gt", "a", [obj])
    write_seq(tmp_path / "pred", "a", [obj])  # 1 frame, J = 1
    write_seq(tmp_path / "gt", "b", [obj] * 3)
    write_seq(tmp_path / "pred", "b", [np.zeros_like(obj)] * 3)  # 3 frames, J = 0
    out = evaluate_folders(tmp_path / "pred", tmp_path / "gt", EvalConfig(merge_objects=True))
    assert out["J"] == out["J_per_sequence"] == 0.5
    assert out["J_per_frame"] == 0.25
    table = format_table(out)
    assert "mean over sequences" in table and "mean over frames" in table


def test_binary_davis_2016_masks_are_accepted_in_merged_mode(tmp_path):
    mask = np.where(two_objects() == 1, 255, 0).astype(np.uint8)
    for kind in ("gt", "pred"):
        (tmp_path / kind / "s").mkdir(parents=True)
        Image.fromarray(mask).save(tmp_path / kind / "s" / "00000.png")
    out = evaluate_folders(tmp_path / "pred", tmp_path / "gt", EvalConfig(merge_objects=True))
    assert out["J"] == 1.0
    with pytest.raises(MaskFormatError, match="mode L"):
        evaluate_folders(tmp_path / "pred", tmp_path / "gt")


def test_only_ground_truth_frames_are_scored(tmp_path):
    gt = [two_objects(t) for t in range(3)]
    write_seq(tmp_path / "gt", "s", gt)
    write_seq(tmp_path / "pred", "s", gt + [np.zeros((H, W), np.uint8)] * 2)
    (tmp_path / "gt" / "s" / "00001.png").unlink()  # annotated on frames 0 and 2 only
    out = evaluate_folders(tmp_path / "pred", tmp_path / "gt")
    assert out["n_frames"] == 2 and out["J"] == 1.0


def test_a_subset_of_sequences_can_be_chosen(tmp_path):
    for seq in ("a", "b"):
        write_seq(tmp_path / "gt", seq, [two_objects()])
    write_seq(tmp_path / "pred", "a", [two_objects()])
    out = evaluate_folders(tmp_path / "pred", tmp_path / "gt", EvalConfig(sequences=("a",)))
    assert list(out["sequences"]) == ["a"]
    with pytest.raises(MaskFormatError, match="no sequence folder 'zz'"):
        evaluate_folders(tmp_path / "pred", tmp_path / "gt", EvalConfig(sequences=("zz",)))


@pytest.mark.parametrize(
    "damage, message",
    [
        ("missing_seq", r"pred/b: missing sequence folder"),
        ("missing_frame", r"pred/a/00001.png: missing"),
        ("wrong_size", r"pred/a/00000.png: 16x24 \(WxH\) but the ground truth is 32x24"),
        ("too_many_ids", r"pred/a/00000.png: predicted id 21, more than the 20"),
        ("rgb", r"pred/a/00000.png: a mode RGB image"),
    ],
)
def test_bad_prediction_folders_raise_one_clear_error_naming_the_path(tmp_path, damage, message):
    for seq in ("a", "b"):
        write_seq(tmp_path / "gt", seq, [two_objects(), two_objects(1)])
        write_seq(tmp_path / "pred", seq, [two_objects(), two_objects(1)])
    pred = tmp_path / "pred"
    if damage == "missing_seq":
        for p in (pred / "b").iterdir():
            p.unlink()
        (pred / "b").rmdir()
    elif damage == "missing_frame":
        (pred / "a" / "00001.png").unlink()
    elif damage == "wrong_size":
        write_label_png(pred / "a" / "00000.png", np.zeros((24, 16), np.uint8))
    elif damage == "too_many_ids":
        write_label_png(pred / "a" / "00000.png", np.full((H, W), 21, np.uint8))
    else:
        Image.new("RGB", (W, H)).save(pred / "a" / "00000.png")
    with pytest.raises(MaskFormatError, match=message):
        evaluate_folders(pred, tmp_path / "gt")


def test_result_has_the_fixed_json_shape(tmp_path):
    write_seq(tmp_path / "gt", "s", [two_objects()])
    write_seq(tmp_path / "pred", "s", [two_objects(2)])
    out = evaluate_folders(tmp_path / "pred", tmp_path / "gt")
    for key in ("J", "F", "J&F", "J-recall", "J-decay", "F-recall", "F-decay", "sequences"):
        assert key in out
    seq = out["sequences"]["s"]
    assert {"J", "F", "J&F", "objects"} <= set(seq)
    assert 0.0 < seq["objects"]["1"]["J"] < 1.0 and seq["objects"]["2"]["J"] == 1.0
    assert seq["J"] == pytest.approx((seq["objects"]["1"]["J"] + 1.0) / 2)
    assert out["J&F"] == pytest.approx((out["J"] + out["F"]) / 2)


def test_results_do_not_depend_on_the_number_of_worker_threads(tmp_path):
    gt = [two_objects(t) for t in range(5)]
    write_seq(tmp_path / "gt", "s", gt)
    write_seq(tmp_path / "pred", "s", [swap(two_objects(t + 1)) for t in range(5)])
    serial = evaluate_folders(tmp_path / "pred", tmp_path / "gt", EvalConfig(workers=1))
    threaded = evaluate_folders(tmp_path / "pred", tmp_path / "gt", EvalConfig(workers=3))
    assert serial == threaded and serial["J"] < 1.0


def test_the_table_lines_up_scores_in_percent_and_dashes_where_there_is_no_value():
    nan = float("nan")
    result = {"mode": "multi-object", "J": 0.5, "F": 0.25, "J&F": 0.375, "J-recall": 1.0,
              "J-decay": -0.05, "F-recall": nan, "F-decay": 0.001, "n_objects": 3, "n_frames": 12,
              "sequences": {
                  "a-sequence-name-longer-than-24": {"n_objects": 3, "n_frames": 10, "J": 1.0,
                                                     "F": 0.999, "J&F": 0.9995},
                  "empty": {"n_objects": 0, "n_frames": 2, "J": nan, "F": nan, "J&F": nan}}}
    assert format_table(result).splitlines() == [
        "sequence                 obj frames     J     F   J&F",
        "-----------------------------------------------------",
        "a-sequence-name-longer-t   3     10 100.0  99.9 100.0",
        "empty                      0      2     -     -     -",
        "-----------------------------------------------------",
        "mean over objects          3     12  50.0  25.0  37.5",
        "recall / decay (%): J 100.0 /  -5.0   F     - /   0.1   mode: multi-object",
    ]


def test_the_merged_table_adds_the_mean_over_frames_row():
    result = {"mode": "merged", "J": 0.5, "F": 0.5, "J&F": 0.5, "J-recall": 0.5, "J-decay": 0.0,
              "F-recall": 0.5, "F-decay": 0.0, "n_objects": 2, "n_frames": 4,
              "J_per_frame": 0.25, "F_per_frame": 0.75, "J&F_per_frame": 0.5, "sequences": {}}
    lines = format_table(result).splitlines()
    assert lines[3:5] == ["mean over sequences        2      4  50.0  50.0  50.0",
                          "mean over frames                  4  25.0  75.0  50.0"]
