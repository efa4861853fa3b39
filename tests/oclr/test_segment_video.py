"""oclr.segment_video called as a library (what oclr-infer runs): a random-weight checkpoint of
T = 4 frames on 10 random 40 x 64 frames, so several windows are linked and masks are resized."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from layersynth.errors import InputError
from oclr.davis_io import read_label_png
from oclr.realvideo import FlowSettings
from oclr.segment_video import SegmentConfig, format_summary, frame_ranks, order_line, segment_video
from oclr.video_io import MediaError
from PIL import Image
from tinyvideo import random_checkpoint, random_frames

FRAMES, H, W, K = 10, 40, 64, 3  # K: the tiny preset's object slots


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("segment")
    checkpoint = random_checkpoint(root / "tiny.pt", seed=0)
    names = random_frames(root / "frames", FRAMES, rng=np.random.default_rng(0), size=(H, W))
    return str(checkpoint), str(root / "frames"), names


def config(inputs, out, **settings):
    checkpoint, frames, _ = inputs
    base = dict(checkpoint=checkpoint, out=str(out), frames=frames,
                flow=FlowSettings(use_cache=False), overlay=False)
    return SegmentConfig(**{**base, **settings})


@pytest.fixture(scope="module")
def segmented(inputs, tmp_path_factory):
    """One run with a progress callback recording (total, stage) per stage."""
    out = tmp_path_factory.mktemp("segmented") / "out"
    seen = []

    def progress(items, total, description):
        seen.append((total, description))
        return items

    summary = segment_video(config(inputs, out), progress=progress)
    return out, summary, seen


def test_every_frame_gets_a_palette_mask_at_the_frame_size_with_ids_0_to_k(inputs, segmented):
    out, _, _ = segmented
    assert sorted(p.stem for p in (out / "masks").iterdir()) == inputs[2]
    for path in (out / "masks").iterdir():
        with Image.open(path) as png:
            assert png.mode == "P" and png.size == (W, H)
        labels = read_label_png(path, allow_binary=False)
        assert labels.min() >= 0 and labels.max() <= K


def test_every_frame_gets_a_binary_amodal_mask_per_object_slot(inputs, segmented):
    out, _, _ = segmented
    expected = {f"{k}_{name}.png" for k in range(K) for name in inputs[2]}
    assert {p.name for p in (out / "amodal").iterdir()} == expected
    mask = np.asarray(Image.open(out / "amodal" / f"2_{inputs[2][-1]}.png"))
    assert mask.shape == (H, W) and set(np.unique(mask)) <= {0, 255}


def test_the_summary_counts_what_was_written(segmented):
    out, summary, _ = segmented
    written = [read_label_png(p, allow_binary=False) for p in sorted((out / "masks").iterdir())]
    assert summary["frames"] == len(written) == FRAMES and summary["size"] == [H, W]
    assert summary["frames_with_object"] == {
        str(k): sum(bool((labels == k).any()) for labels in written) for k in range(1, K + 1)}
    assert summary["out"] == str(out) and summary["overlay"] is None
    assert summary["flow"] == "dis" and summary["flow_width"] is None
    assert summary["total_seconds"] == pytest.approx(sum(summary["seconds"].values()))
    assert summary["fps"] == pytest.approx(FRAMES / summary["total_seconds"])


def test_the_summary_gives_each_frame_s_depth_ranks_of_the_object_ids(segmented):
    _, summary, _ = segmented
    assert summary["order_head"] == "global"
    assert len(summary["order"]) == FRAMES
    assert all(sorted(ranks) == list(range(K)) for ranks in summary["order"])


def test_a_per_frame_order_head_writes_the_order_each_frame_s_masks_were_composed_by(
        inputs, tmp_path):
    checkpoint = random_checkpoint(tmp_path / "frame.pt", seed=0, order_head="frame")
    out = tmp_path / "out"
    summary = segment_video(config(inputs, out, checkpoint=str(checkpoint)))
    assert summary["order_head"] == "frame" and len(summary["order"]) == FRAMES
    assert all(sorted(ranks) == list(range(K)) for ranks in summary["order"])


def test_frame_ranks_turn_scores_into_ranks_with_ties_to_the_lower_id():
    order = np.array([[0.5, -1.0, 2.0], [1.0, 1.0, 0.0]], np.float32)
    assert frame_ranks(order) == [[1, 0, 2], [1, 2, 0]]


def test_the_readable_order_line_names_the_first_frame_s_order_and_counts_changes():
    line = order_line([[1, 0, 2], [1, 0, 2], [0, 1, 2], [1, 0, 2]], "frame")
    assert line == ("order    frame head: ids front to back 2, 1, 3 at the first frame; the order "
                    "changes at 2 frame(s)")


def test_progress_is_reported_once_over_the_windows_and_once_over_the_frames(segmented):
    _, summary, seen = segmented
    assert summary["windows"] >= 3  # 10 frames, T = 4, overlap 1: windows must be linked
    assert seen == [(summary["windows"], "windows"), (FRAMES, "frames")]


def test_a_second_run_from_the_flow_cache_writes_the_same_masks_byte_for_byte(inputs,
                                                                               tmp_path):
    cached = FlowSettings(cache=str(tmp_path / "cache"))
    for name in ("first", "second"):
        segment_video(config(inputs, tmp_path / name, flow=cached))
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1
    first, second = sorted((tmp_path / "first" / "masks").iterdir()), sorted(
        (tmp_path / "second" / "masks").iterdir())
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


def test_the_overlay_is_written_into_the_output_folder_when_asked(inputs, tmp_path):
    summary = segment_video(config(inputs, tmp_path / "out", overlay=True, fps=5.0))
    overlay = Path(summary["overlay"])
    assert overlay.parent == tmp_path / "out" and overlay.stat().st_size > 0
    assert f"overlay  {overlay}" in format_summary(summary)


def test_the_readable_summary_names_frames_windows_and_each_object(segmented):
    _, summary, _ = segmented
    text = format_summary(summary)
    assert f"frames   {FRAMES} ({W}x{H}), {summary['windows']} windows" in text
    for k, n in summary["frames_with_object"].items():
        assert f"id {k}: {n} frames" in text
    assert "overlay" not in text


@pytest.mark.parametrize("settings, named", [
    ({"batch": 0}, "--batch"),
    ({"overlap": 4}, "--overlap"),  # as long as the window: nothing left to advance by
    ({"flow": FlowSettings(flow_width=4, use_cache=False)}, "--flow-width 4"),
    ({"flow": FlowSettings(raft_weights="none.ckpt", use_cache=False)}, "--raft-weights"),
    ({"checkpoint": "none.pt"}, "none.pt"),
])
def test_a_bad_setting_raises_an_input_error_naming_it_and_writes_nothing(inputs, tmp_path,
                                                                           settings, named):
    with pytest.raises(InputError, match=named):
        segment_video(config(inputs, tmp_path / "out", **settings))
    assert not (tmp_path / "out").exists()


def test_a_folder_without_frames_raises_a_media_error_naming_it(inputs, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(MediaError, match=str(tmp_path / "empty")):
        segment_video(config(inputs, tmp_path / "out", frames=str(tmp_path / "empty")))


@pytest.mark.parametrize("source", [{"frames": None}, {"video": "clip.mp4"}])
def test_a_config_needs_exactly_one_of_frames_or_video(inputs, tmp_path, source):
    with pytest.raises(ValueError, match="exactly one"):
        config(inputs, tmp_path, **source)


def test_a_config_is_frozen(inputs, tmp_path):
    with pytest.raises(dataclasses.FrozenInstanceError):
        config(inputs, tmp_path).batch = 2


def test_the_summary_names_the_order_readout_when_the_checkpoint_reads_one(inputs, tmp_path):
    checkpoint = random_checkpoint(tmp_path / "read.pt", seed=0, order_readout="occlusion_frame")
    summary = segment_video(config(inputs, tmp_path / "out", checkpoint=str(checkpoint)))
    assert summary["order_head"] == "occlusion_frame" and len(summary["order"]) == FRAMES
    assert all(sorted(ranks) == list(range(K)) for ranks in summary["order"])


def test_a_readout_asked_for_reads_the_checkpoint_as_one_that_stores_it(inputs, tmp_path):
    """The module's checkpoint (seed 0, global head) read with order_readout="occlusion" gives
    the order and masks of the same weights saved with that readout."""
    stored = random_checkpoint(tmp_path / "read.pt", seed=0, order_readout="occlusion")
    asked = segment_video(config(inputs, tmp_path / "asked", order_readout="occlusion"))
    saved = segment_video(config(inputs, tmp_path / "saved", checkpoint=str(stored)))
    assert asked["order_head"] == saved["order_head"] == "occlusion"
    assert asked["order"] == saved["order"]
    for name in sorted(p.name for p in (tmp_path / "saved" / "masks").iterdir()):
        assert (tmp_path / "asked" / "masks" / name).read_bytes() == \
            (tmp_path / "saved" / "masks" / name).read_bytes()
    with pytest.raises(ValueError, match="order_readout"):
        config(inputs, tmp_path / "bad", order_readout="learned")


def test_spares_asked_for_read_an_objectness_checkpoint_and_are_refused_without_a_head(
        inputs, tmp_path):
    """The objectness head is created last, so a seed-0 checkpoint with it holds the module's
    checkpoint's other weights: read with spares "keep" it gives the same masks."""
    headed = random_checkpoint(tmp_path / "headed.pt", seed=0, objectness=True)
    kept = segment_video(config(inputs, tmp_path / "kept", checkpoint=str(headed),
                                spares="keep"))
    plain = segment_video(config(inputs, tmp_path / "plain"))
    assert kept["spares"] == "keep" and plain["spares"] is None
    assert kept["order"] == plain["order"]
    for name in sorted(p.name for p in (tmp_path / "plain" / "masks").iterdir()):
        assert (tmp_path / "kept" / "masks" / name).read_bytes() == \
            (tmp_path / "plain" / "masks" / name).read_bytes()
    dropped = segment_video(config(inputs, tmp_path / "dropped", checkpoint=str(headed)))
    assert dropped["spares"] == "drop"
    with pytest.raises(InputError, match=r"--spares behind: .*tiny\.pt: .*objectness head"):
        segment_video(config(inputs, tmp_path / "refused", spares="behind"))
    with pytest.raises(ValueError, match="spares must be one of"):
        config(inputs, tmp_path / "bad", spares="front")
