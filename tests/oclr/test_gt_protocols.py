"""The reference's ground-truth-assisted protocols: its window plan, matching on composed modal
masks by frame-mean IoU, one GT-picked channel per window."""

import numpy as np
import pytest
import torch
from oclr.config import ModelConfig
from oclr.gt_protocols import (
    boxes_at_model_size,
    frame_iou,
    infer_gt_assisted,
    match_modal,
    reference_plan,
    window_modal,
)
from oclr.infer import InferConfig
from oclr.moca import BoxAnnotation


def test_the_end_aligned_last_window_keeps_all_its_frames():
    plan = reference_plan(10, 4)  # windows start at 0, 4 and 6 (end-aligned)
    assert [w.start for w in plan] == [0, 4, 6]
    assert [(w.own_start, w.own_stop) for w in plan] == [(0, 4), (4, 6), (6, 10)]
    assert [(w.own_start, w.own_stop) for w in reference_plan(8, 4)] == [(0, 4), (4, 8)]
    assert [(w.own_start, w.own_stop) for w in reference_plan(3, 4)] == [(0, 3)]


def test_frame_iou_is_per_frame_and_one_where_both_masks_are_empty():
    pred = np.zeros((1, 2, 4), bool)
    gt = np.zeros((1, 2, 4), bool)
    pred[0, 1, :3], gt[0, 1, 1:] = True, True
    assert frame_iou(pred, gt)[0, 0].tolist() == [1.0, 0.5]


def hidden_behind():
    """One 6 x 6 GT object; channel 0 is exactly its amodal mask but lies behind channel 1,
    which covers its left 6 x 4; channel 2 is empty. Order scores: channel 1 front."""
    prob = np.zeros((3, 2, 12, 12), np.float32)
    prob[0, :, 2:8, 2:8] = 1
    prob[1, :, 2:8, 2:6] = 1
    gt = np.zeros((1, 2, 12, 12), bool)
    gt[0, :, 2:8, 2:8] = True
    return prob, np.array([1.0, 0.0, 2.0], np.float32), gt


def test_windows_are_matched_on_composed_modal_masks_not_on_amodal_ones():
    prob, score, gt = hidden_behind()
    modal = window_modal(prob, score, 0.5)
    assert modal[0].sum() == 2 * 12 and modal[1].sum() == 2 * 24  # visible: 12 and 24 pixels
    perm = match_modal(modal, gt, np.ones(2, bool))  # modal IoU 1/3 vs 2/3: channel 1 wins
    assert perm.tolist() == [1, 0, 2]


def test_the_match_is_by_the_mean_over_annotated_frames_of_iou():
    modal = np.zeros((2, 3, 4, 4), bool)
    modal[0, 0] = True  # channel 0 = the object on frame 0 only
    modal[1, 1:] = True  # channel 1 = the object on frames 1 and 2
    gt = np.ones((1, 3, 4, 4), bool)
    assert match_modal(modal, gt, np.ones(3, bool)).tolist() == [1, 0]
    assert match_modal(modal, gt, np.array([True, False, False])).tolist() == [0, 1]
    assert match_modal(modal, gt, np.zeros(3, bool)).tolist() == [0, 1]  # nothing to match
    assert match_modal(modal, None, np.ones(3, bool)).tolist() == [0, 1]


class FirstSlotBlind(torch.nn.Module):
    """Input u = frame index everywhere. Channel 0 covers every frame but the first of its window,
    channel 1 only the first; channel 2 is empty. Channel 1 is in front."""

    def __init__(self):
        super().__init__()
        self.cfg = ModelConfig.preset("tiny", frames=4, height=8, width=8)

    def forward(self, flow):
        u = flow[:, :, 0]  # (B, T, h, w)
        first = (u == u[:, :1]).float()
        logits = torch.stack([10 - 20 * first, 20 * first - 10, torch.full_like(u, -10.0)], 2)
        return logits, torch.tensor([1.0, 0.0, 2.0]).expand(len(flow), 3)


def frame_index_flow(n):
    flow = np.zeros((n, 4, 8, 8), np.float32)
    flow[:, 0] = np.arange(n, dtype=np.float32)[:, None, None]
    return flow


def test_the_last_windows_masks_are_kept_where_it_overlaps_the_one_before():
    flow = frame_index_flow(10)  # windows 0-3, 4-7 and 6-9; frame 6 is the last's first slot
    preds = infer_gt_assisted(FirstSlotBlind(), flow, InferConfig(), {"reference": None},
                              np.ones(10, bool))
    modal = preds["reference"].modal()
    assert [int(np.unique(modal[t])[0]) for t in range(10)] == [2, 1, 1, 1, 2, 1, 2, 1, 1, 1]


def test_one_channel_per_window_is_picked_with_the_ground_truth_and_written_alone():
    flow = frame_index_flow(8)  # windows 0-3 and 4-7
    gt = np.zeros((1, 8, 8, 8), bool)
    gt[0, :4] = True  # frames 0-3: the object is the whole frame; channel 0 holds 3 of 4 frames
    preds = infer_gt_assisted(FirstSlotBlind(), flow, InferConfig(),
                              {"single-channel": gt}, np.ones(8, bool))
    pred = preds["single-channel"]
    # window 0: channel 0 (IoU 3/4 against 1/4); window 1: GT empty, an empty channel (2) wins
    assert pred.channel.tolist() == [0] * 4 + [2] * 4
    labels = [pred.frame(t, 16, 16)[0] for t in range(8)]
    assert [int(lab.max()) for lab in labels] == [0, 1, 1, 1, 0, 0, 0, 0]
    assert all(lab.dtype == np.uint8 and lab.shape == (16, 16) for lab in labels)


def test_moca_boxes_become_filled_masks_at_the_model_size_on_annotated_frames():
    boxes = {"00002": BoxAnnotation("s", "00002", (10.0, 20.0, 30.0, 40.0), "0")}
    masks, has_gt = boxes_at_model_size(boxes, ["00001", "00002"], (80, 40), (8, 4))
    assert has_gt.tolist() == [False, True] and masks.shape == (1, 2, 8, 4)
    assert not masks[0, 0].any()
    assert np.argwhere(masks[0, 1]).tolist() == [[2, 1], [2, 2], [3, 1], [3, 2]]


@pytest.mark.parametrize("protocol", ["reference", "single-channel"])
def test_a_video_shorter_than_a_window_is_padded_and_fully_written(protocol):
    preds = infer_gt_assisted(FirstSlotBlind(), frame_index_flow(3), InferConfig(),
                              {protocol: np.ones((1, 3, 8, 8), bool)}, np.ones(3, bool))
    assert len(preds[protocol].windows if protocol == "reference"
               else preds[protocol].video.windows) == 1
    assert preds[protocol].frame(2, 8, 8)[0].shape == (8, 8)
