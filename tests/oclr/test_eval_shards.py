import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from fakeshards import with_flows
from oclr import build_model
from oclr.checkpoint import read_weights, save_checkpoint
from oclr.eval_shards import (
    ScoreBoard,
    evaluate_shards,
    format_table,
    frame_order_pairs,
    match_channels_by_j,
    merged_pairs,
    pairwise_frame_iou,
    score_clip,
)

BIN = Path(sys.executable).parent
SMALL = dict(frames=4, height=32, width=48, cnn_channels=(8, 16, 32), d_model=32, heads=2,
             ffn_dim=32)


def two_objects(t=3, h=12, w=12):
    """GT: layer 0 (front) covers rows 2:8, layer 1 (behind) rows 5:11, overlapping; K = 3."""
    amodal = torch.zeros(t, 3, h, w)
    amodal[:, 0, 2:8, 2:8] = 1
    amodal[:, 1, 5:11, 4:10] = 1
    modal = torch.zeros(t, h, w, dtype=torch.long)
    modal[amodal[:, 1] > 0] = 2
    modal[amodal[:, 0] > 0] = 1
    return amodal, modal, torch.tensor([0, 1, 3])


def test_iou_is_one_for_two_empty_masks_and_the_overlap_ratio_otherwise():
    pred = torch.zeros(1, 2, 4, dtype=torch.bool)
    gt = torch.zeros(1, 2, 4, dtype=torch.bool)
    pred[0, 1, :2], gt[0, 1, 1:3] = True, True
    assert pairwise_frame_iou(pred, gt)[0, 0].tolist() == [1.0, pytest.approx(1 / 3)]




def test_channels_are_matched_to_objects_by_the_largest_total_j_not_greedily():
    mean_j = np.array([[0.9, 0.8], [0.85, 0.0], [0.1, 0.1]])  # greedy would give object 0 chan 0
    assert match_channels_by_j(mean_j).tolist() == [1, 0]

def test_the_table_has_one_row_overall_then_one_per_object_count_with_both_averagings():
    one = {"clips": 3, "modal_j": 0.5, "amodal_j": 0.99951, "order_acc": float("nan"),
           "order_pairs": 0, "frame_order_acc": float("nan"), "frame_order_pairs": 0,
           "paper": {"frames": 90, "modal_j": 0.5, "amodal_j": 0.99951}}
    two = {"clips": 1, "modal_j": 0.25, "amodal_j": 0.5, "order_acc": 1.0, "order_pairs": 2,
           "frame_order_acc": 0.75, "frame_order_pairs": 40,
           "paper": {"frames": 30, "modal_j": 0.125, "amodal_j": float("nan")}}
    assert format_table({**one, "by_objects": {"1": one, "2": two}}).splitlines() == [
        "                                            per object (this project) |"
        "  per frame, pooled (paper)",
        " objects  clips  modal J  amodal J  order acc  pairs  per-frame  pairs |"
        "  frames  modal J  amodal J",
        "     all      3     50.0     100.0          -      0          -      0 |"
        "      90     50.0     100.0",
        "       1      3     50.0     100.0          -      0          -      0 |"
        "      90     50.0     100.0",
        "       2      1     25.0      50.0      100.0      2       75.0     40 |"
        "      30     12.5         -",
    ]
    merged = {"overlapping": 1, "overlapping_pairs": 2, "apart": 0, "apart_pairs": 3}
    last = format_table({**one, "merged": merged, "by_objects": {"1": one}}).splitlines()[-1]
    assert last == ("merged layers (one channel the best cover of both objects of a pair): "
                    "1 of 2 overlapping pairs, 0 of 3 apart")

def test_a_perfect_prediction_in_shuffled_channels_scores_one_everywhere():
    amodal, modal, rank = two_objects()
    prob = amodal[:, [2, 0, 1]]  # GT object 0 in channel 1, object 1 in channel 2
    scores = torch.tensor([5.0, 0.0, 1.0])
    clip = score_clip("c", prob, scores, amodal, modal, 2, rank)
    assert clip.amodal_j == [1.0, 1.0] and clip.modal_j == [1.0, 1.0]
    assert (clip.pairs, clip.pairs_correct) == (1, 1)


def test_a_wrong_depth_order_costs_modal_j_and_order_accuracy_but_not_amodal_j():
    amodal, modal, rank = two_objects()
    clip = score_clip("c", amodal, torch.tensor([1.0, 0.0, 2.0]), amodal, modal, 2, rank)
    assert clip.amodal_j == [1.0, 1.0]
    assert max(clip.modal_j) < 1.0  # object 1 steals the overlap: both modal masks are off
    assert (clip.pairs, clip.pairs_correct) == (1, 0)


def test_padded_layers_are_not_scored_and_a_missed_object_scores_zero():
    amodal, modal, rank = two_objects()
    prob = torch.zeros_like(amodal)
    prob[:, 0] = amodal[:, 0]
    clip = score_clip("c", prob, torch.zeros(3), amodal, modal, 2, rank)
    assert len(clip.amodal_j) == 2 and clip.amodal_j == [1.0, 0.0]


def test_the_summary_pools_objects_and_splits_them_by_object_count():
    amodal, modal, rank = two_objects()
    board = ScoreBoard()
    board.add(score_clip("a", amodal, torch.tensor([0.0, 1.0, 2.0]), amodal, modal, 2, rank))
    one = amodal.clone()
    one[:, 1] = 0
    board.add(score_clip("b", torch.zeros_like(one), torch.zeros(3), one, (one[:, 0] > 0).long(),
                         1, rank))
    s = board.summary()
    assert s["amodal_j"] == pytest.approx(2 / 3) and s["objects"] == 3 and s["clips"] == 2
    assert s["by_objects"]["1"]["amodal_j"] == 0.0 and s["by_objects"]["2"]["amodal_j"] == 1.0
    assert s["sequences"]["b"]["amodal_j"] == [0.0]
    # the paper's averaging: 3 frames of 1.0 (clip a) and 3 frames of 0.0 (clip b), pooled
    assert s["paper"]["amodal_j"] == 0.5 and s["paper"]["modal_j"] == 0.5
    assert s["paper"]["frames"] == 6 and s["by_objects"]["1"]["paper"]["amodal_j"] == 0.0


def test_each_frame_of_the_papers_figure_is_the_mean_over_the_clips_objects():
    amodal, modal, rank = two_objects()
    prob = amodal.clone()
    prob[1:, 1] = 0  # object 1 found in frame 0 only
    clip = score_clip("c", prob, torch.tensor([0.0, 1.0, 2.0]), amodal, modal, 2, rank)
    assert clip.amodal_j == [1.0, pytest.approx(1 / 3)]  # per object: mean over frames
    assert clip.paper_amodal == [1.0, 0.5, 0.5]  # per frame: mean over objects
    board = ScoreBoard()
    board.add(clip)
    assert board.summary()["amodal_j"] == pytest.approx(2 / 3)
    assert board.summary()["paper"]["amodal_j"] == pytest.approx(2 / 3)  # 1 clip: same mean
    assert board.summary()["sequences"]["c"]["paper"]["amodal_j"] == pytest.approx(2 / 3)


def test_the_papers_modal_figure_matches_modal_masks_on_their_own():
    """One 6 x 6 object. Channel 0 is its exact amodal mask but lies behind channel 1, which
    covers its left 6 x 4: amodal matching takes channel 0 (IoU 1 vs 24/36), whose visible part
    is 12 of 36 pixels; matched on modal masks, channel 1 (24/36) wins."""
    t, h, w = 2, 12, 12
    amodal = torch.zeros(t, 3, h, w)
    amodal[:, 0, 2:8, 2:8] = 1
    modal = (amodal[:, 0] > 0).long()
    prob = torch.zeros(t, 3, h, w)
    prob[:, 0, 2:8, 2:8] = 1
    prob[:, 1, 2:8, 2:6] = 1
    clip = score_clip("c", prob, torch.tensor([1.0, 0.0, 2.0]), amodal, modal, 1,
                      torch.tensor([0, 1, 2]))
    assert clip.amodal_j == [1.0] and clip.paper_amodal == [1.0, 1.0]
    assert clip.modal_j == [pytest.approx(1 / 3)]
    assert clip.paper_modal == [pytest.approx(2 / 3)] * 2


def checkpoint(tmp_path, trained_on=None):
    """A random-weight checkpoint; `trained_on` its train_config's flow (none recorded: None)."""
    model = build_model("tiny", **SMALL)
    path = tmp_path / f"m-{trained_on}.pt"
    state = {"model": model.state_dict(), "model_config": model.cfg.to_dict()}
    if trained_on is not None:
        state["train_config"] = {"flow": trained_on}
    save_checkpoint(state, path)
    return path


@pytest.fixture(scope="module")
def dis_shards(val_shards, tmp_path_factory):
    """val_shards with a (stand-in) DIS flow beside the ground truth."""
    return with_flows(val_shards, tmp_path_factory.mktemp("dis") / "syn-val", ("dis",))


@pytest.mark.parametrize("trained_on, held, chosen, why", [
    ("gt", "dis", "gt", "the flow the checkpoint was trained on"),
    ("dis", "dis", "dis", "the flow the checkpoint was trained on"),
    (None, "dis", "dis", "does not say what it trained on"),
    ("dis", "gt", "gt", "trained on dis flow, which"),
    ("raft", "dis", "dis", "trained on raft flow, which"),
])
def test_the_default_flow_is_the_checkpoints_own_else_the_best_the_shards_hold(
        trained_on, held, chosen, why, val_shards, dis_shards, tmp_path):
    folder = dis_shards if held == "dis" else val_shards
    result = evaluate_shards(checkpoint(tmp_path, trained_on), folder, limit=1)
    assert result["flow"] == chosen and why in result["flow_choice"]


def test_a_flow_asked_for_overrides_the_checkpoints(dis_shards, tmp_path):
    result = evaluate_shards(checkpoint(tmp_path, "dis"), dis_shards, flow="gt", limit=1)
    assert (result["flow"], result["flow_choice"]) == ("gt", "asked for")


def test_the_command_warns_when_the_checkpoints_flow_is_not_in_the_shards(val_shards, tmp_path,
                                                                           capsys):
    from oclr import cli_eval

    code = cli_eval.main(["--checkpoint", str(checkpoint(tmp_path, "dis")), "--shards",
                          str(val_shards), "--limit", "1"])
    captured = capsys.readouterr()
    warning = [line for line in captured.err.splitlines() if "--flow" in line]
    assert code == 0 and len(warning) == 1
    assert "scoring on gt flow" in warning[0] and "trained on dis flow" in warning[0]
    assert "(gt flow: the best flow the shards hold" in captured.out


def test_evaluating_a_checkpoint_on_shards_gives_fractions_overall_and_by_objects(
        val_shards, tmp_path):
    result = evaluate_shards(checkpoint(tmp_path), val_shards, batch=3)
    assert result["clips"] == 4 and len(result["sequences"]) == 4
    for r in [result, *result["by_objects"].values()]:
        assert 0 <= r["modal_j"] <= 1 and 0 <= r["amodal_j"] <= 1
    assert sum(r["objects"] for r in result["by_objects"].values()) == result["objects"]
    assert evaluate_shards(checkpoint(tmp_path), val_shards, limit=2)["clips"] == 2


def test_the_command_prints_a_table_then_the_json_last(val_shards, tmp_path, capsys):
    from oclr import cli_eval

    code = cli_eval.main(["--checkpoint", str(checkpoint(tmp_path)), "--shards", str(val_shards),
                          "--json", str(tmp_path / "r.json")])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert any(line.split()[:1] == ["all"] for line in out) and "amodal J" in "\n".join(out)
    last = json.loads(out[-1])
    assert last == json.loads((tmp_path / "r.json").read_text())
    assert {"modal_j", "amodal_j", "order_acc", "by_objects", "sequences", "paper"} <= set(last)
    assert last["paper"]["frames"] == 4 * 4 and 0 <= last["paper"]["modal_j"] <= 1
    assert "per frame" in last["paper"]["averaging"]  # said once, at the top
    assert all(set(c["paper"]) == {"modal_j", "amodal_j", "frames"}
               for c in last["sequences"].values())
    assert "per frame, pooled (paper)" in out[1]


def test_bad_inputs_are_one_line_errors_naming_the_file(val_shards, tmp_path, capsys):
    from oclr import cli_eval

    assert cli_eval.main(["--checkpoint", str(tmp_path / "nothing.pt"),
                          "--shards", str(val_shards)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nothing.pt" in err[0]
    assert cli_eval.main(["--checkpoint", str(checkpoint(tmp_path)), "--shards", str(val_shards),
                          "--flow", "dis"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no 'dis' flow" in err[0]


def test_oclr_eval_dispatches_checkpoint_and_shards_here(val_shards, tmp_path, capsys):
    from oclr import cli_eval

    code = cli_eval.main(["--checkpoint", str(checkpoint(tmp_path)), "--shards", str(val_shards),
                          "--limit", "2", "--batch", "2"])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and json.loads(out[-1])["clips"] == 2


def swapping_objects():
    """two_objects over 2 frames, but at frame 1 layer 1 is in front: (amodal, modal, gt_rank,
    frame_rank)."""
    amodal, modal, rank = two_objects(t=2)
    modal[1] = 0
    modal[1][amodal[1, 0] > 0] = 1
    modal[1][amodal[1, 1] > 0] = 2
    return amodal, modal, rank, torch.tensor([[0, 1, 3], [1, 0, 3]])


def test_per_frame_order_pairs_count_the_pairs_overlapping_at_each_frame_in_its_order():
    gt = torch.zeros(2, 3, 4, dtype=torch.bool)  # 2 objects, 3 frames, 4 pixels
    gt[0, :, :2] = True
    gt[1, :2, 1:3] = True  # overlap at frames 0 and 1; apart at frame 2
    rank = torch.tensor([[0, 1], [1, 0], [1, 0]])
    said = torch.tensor([[0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])  # object 0 in front throughout
    assert frame_order_pairs(gt, said, rank) == (2, 1)
    assert frame_order_pairs(gt, said.flip(1), rank) == (2, 1)
    assert frame_order_pairs(gt, torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]),
                             rank) == (2, 2)


def test_per_frame_scores_compose_each_frame_s_modal_masks_and_are_scored_per_frame():
    amodal, modal, rank, frame_rank = swapping_objects()
    per_frame = score_clip("c", amodal, torch.tensor([[0.0, 1.0, 2.0], [1.0, 0.0, 2.0]]),
                           amodal, modal, 2, rank, frame_rank)
    assert per_frame.modal_j == [1.0, 1.0]
    assert (per_frame.frame_pairs, per_frame.frame_pairs_correct) == (2, 2)
    assert (per_frame.pairs, per_frame.pairs_correct) == (1, 0)  # mean scores tie: not nearer
    clip = score_clip("c", amodal, torch.tensor([0.0, 1.0, 2.0]), amodal, modal, 2, rank,
                      frame_rank)
    assert max(clip.modal_j) < 1.0 and (clip.pairs, clip.pairs_correct) == (1, 1)
    assert (clip.frame_pairs, clip.frame_pairs_correct) == (2, 1)
    board = ScoreBoard()
    board.add(per_frame)
    board.add(clip)
    s = board.summary()
    assert s["frame_order_acc"] == 0.75 and s["frame_order_pairs"] == 4


def test_a_per_frame_head_is_evaluated_on_a_split_whose_order_changes(reorder_shards, tmp_path):
    model = build_model("tiny", order_head="frame", **SMALL)
    path = tmp_path / "frame.pt"
    save_checkpoint({"model": model.state_dict(), "model_config": model.cfg.to_dict()}, path)
    result = evaluate_shards(path, reorder_shards, batch=2)
    assert result["frame_order_pairs"] > result["order_pairs"] > 0
    assert 0 <= result["frame_order_acc"] <= 1 and 0 <= result["modal_j"] <= 1


def test_merged_pairs_count_objects_whose_best_channel_is_the_same():
    amodal, modal, rank = two_objects()  # objects 0 and 1 overlap
    third = torch.zeros_like(amodal[:, 0])
    third[:, 0:2, 9:12] = 1  # object 2, apart from both
    gt = torch.stack([amodal[:, 0], amodal[:, 1], third]).flatten(2) > 0  # (3, T, N)
    separate = gt.clone()
    assert merged_pairs(separate, gt) == {"overlapping": 0, "overlapping_pairs": 1,
                                          "apart": 0, "apart_pairs": 2}
    # channel 0 holds the union of objects 0 and 2 (apart), channel 1 object 1, channel 2 empty
    union = torch.stack([gt[0] | gt[2], gt[1], torch.zeros_like(gt[0])])
    assert merged_pairs(union, gt)["apart"] == 1 and merged_pairs(union, gt)["overlapping"] == 0
    # one channel over everything: every pair merged
    everything = torch.stack([gt.any(0), torch.zeros_like(gt[0]), torch.zeros_like(gt[0])])
    assert merged_pairs(everything, gt) == {"overlapping": 1, "overlapping_pairs": 1,
                                            "apart": 2, "apart_pairs": 2}
    # nothing predicted: every object missed, none merged
    assert merged_pairs(torch.zeros_like(everything), gt)["overlapping"] == 0
    assert merged_pairs(torch.zeros_like(everything), gt)["apart"] == 0
    # the summary adds them up over clips: two clips whose every channel is both objects
    board = ScoreBoard()
    for _ in range(2):
        board.add(score_clip("a", amodal.amax(1, keepdim=True).expand_as(amodal),
                             torch.zeros(3), amodal, modal, 2, rank))
    assert board.summary()["merged"] == {"overlapping": 2, "overlapping_pairs": 2, "apart": 0,
                                         "apart_pairs": 0}


def test_an_order_readout_asked_for_is_read_and_named_in_the_result(val_shards, tmp_path,
                                                                    capsys):
    """The global-head checkpoint read with the occlusion readout scores as the same weights
    saved with that readout; the default keeps the checkpoint's head."""
    from oclr import cli_eval

    path = checkpoint(tmp_path)
    default = evaluate_shards(path, val_shards)
    asked = evaluate_shards(path, val_shards, order_readout="occlusion_frame")
    model = build_model("tiny", **SMALL, order_readout="occlusion_frame")
    model.load_state_dict(read_weights(path)[1])
    saved = evaluate_shards(model, val_shards)
    assert default["order_readout"] == "global" and asked["order_readout"] == "occlusion_frame"
    for key in ("order_acc", "frame_order_acc", "modal_j", "amodal_j"):
        assert asked[key] == saved[key]
    assert asked["amodal_j"] == default["amodal_j"]  # the masks are the same either way
    assert cli_eval.main(["--checkpoint", str(path), "--shards", str(val_shards),
                          "--order-readout", "occlusion"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert json.loads(out[-1])["order_readout"] == "occlusion"
    assert out[0].endswith("order read by the occlusion readout")
    assert cli_eval.main(["--checkpoint", str(path), "--shards", str(val_shards),
                          "--order-readout", "learned"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--order-readout" in err[0]


def test_layers_an_objectness_head_calls_spare_are_emptied_and_the_result_says_so(
        val_shards, tmp_path, capsys):
    """A head that calls every layer spare (its last bias -50) leaves nothing to score with
    spares "drop"; "keep" scores the masks as they are, "behind" keeps the amodal figures."""
    from oclr import cli_eval

    torch.manual_seed(0)
    model = build_model("tiny", **SMALL, objectness=True)
    with torch.no_grad():
        model.objectness_head.mlp[2].bias.fill_(-50.0)
    path = tmp_path / "objectness.pt"
    save_checkpoint({"model": model.state_dict(), "model_config": model.cfg.to_dict()}, path)
    dropped = evaluate_shards(path, val_shards)
    readings = {}
    for spares in ("keep", "behind"):
        read = build_model("tiny", **SMALL, objectness=True, spares=spares)
        read.load_state_dict(model.state_dict())
        readings[spares] = evaluate_shards(read, val_shards)
    assert dropped["spares"] == "drop" and readings["keep"]["spares"] == "keep"
    assert evaluate_shards(checkpoint(tmp_path), val_shards)["spares"] is None
    # dropped: every layer empty, so only the frames where an object's mask is empty (IoU 1 of
    # two empty masks) score
    assert 0 < dropped["amodal_j"] < readings["keep"]["amodal_j"]
    assert readings["behind"]["amodal_j"] == readings["keep"]["amodal_j"]
    assert cli_eval.main(["--checkpoint", str(path), "--shards", str(val_shards)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].endswith("layers its objectness head calls spare emptied")
    assert cli_eval.main(["--checkpoint", str(path), "--shards", str(val_shards),
                          "--spares", "keep"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert json.loads(out[-1])["amodal_j"] == readings["keep"]["amodal_j"]
    assert json.loads(out[-1])["spares"] == "keep"
    assert out[0].endswith("its objectness head ignored (every layer kept)")
    assert cli_eval.main(["--checkpoint", str(checkpoint(tmp_path)), "--shards",
                          str(val_shards), "--spares", "drop"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "objectness head" in err[0]
