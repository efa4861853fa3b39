"""The benchmark runners on tiny fake benchmark folders (DAVIS, SegTrack/FBMS with GT on some
frames only, MoCA with a box CSV), through `oclr-eval --checkpoint ...`."""

import dataclasses
import json

import numpy as np
import oclr
import pytest
import torch
from oclr import real_benchmarks
from oclr.checkpoint import save_checkpoint
from oclr.cli_eval import main as eval_main
from oclr.config import ModelConfig
from oclr.davis_io import read_label_png, write_label_png
from oclr.realvideo import FlowSettings
from PIL import Image

H, W, N = 48, 80, 10


def scene(n=N, seed=0):
    """Frames (n, H, W, 3) uint8 and labels (n, H, W): object 1 moves right, object 2 left, over
    a static textured background (so DIS recovers their motion)."""
    rng = np.random.default_rng(seed)
    def texture(h, w):
        small = rng.integers(0, 255, (h // 4, w // 4, 3)).astype(np.uint8)
        return np.asarray(Image.fromarray(small).resize((w, h), Image.BILINEAR))
    bg, a, b = texture(H, W), texture(16, 16), texture(12, 12)
    frames, labels = np.repeat(bg[None], n, 0), np.zeros((n, H, W), np.uint8)
    for t in range(n):
        frames[t, 6:22, 4 + 3 * t:20 + 3 * t], labels[t, 6:22, 4 + 3 * t:20 + 3 * t] = a, 1
        frames[t, 30:42, 60 - 3 * t:72 - 3 * t], labels[t, 30:42, 60 - 3 * t:72 - 3 * t] = b, 2
    return frames, labels


class MotionOracle(torch.nn.Module):
    """Channel 0 = pixels moving right, channel 1 = moving left (from the +1 flow), channel 2 empty;
    so the runners' plumbing (flow, resizing, windows, writing, scoring) can be checked by score."""

    def __init__(self):
        super().__init__()
        self.cfg = ModelConfig.preset("tiny")

    def forward(self, flow):
        u = flow[:, :, 0]  # (B, T, h, w)
        logits = torch.stack([8 * (u - 1.0), 8 * (-u - 1.0), torch.full_like(u, -10.0)], dim=2)
        return logits, torch.arange(3.0).expand(len(flow), 3)


@pytest.fixture()
def oracle(monkeypatch):
    monkeypatch.setattr(real_benchmarks, "load_model_or_input_error",
                        lambda path, device: MotionOracle())


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    model = oclr.build_model("tiny")
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint({"model": model.state_dict(), "model_config": model.cfg.to_dict()}, path)
    return path


def write_seq(root, images, annotations, seq, seed=0, gt_every=1, binary=False, suffix=".jpg",
              only=None, swap=False):
    """A scene's frames and GT; `only` keeps that one GT object (the other moves unannotated);
    `swap` gives the left-moving object id 1."""
    frames, labels = scene(seed=seed)
    if only is not None:
        labels = np.where(labels == only, labels, 0).astype(np.uint8)
    if swap:
        labels = np.choose(labels, [0, 2, 1]).astype(np.uint8)
    (root / images / seq).mkdir(parents=True)
    if annotations:
        (root / annotations / seq).mkdir(parents=True)
    for t in range(N):
        Image.fromarray(frames[t]).save(root / images / seq / f"{t:05d}{suffix}", quality=95)
        if annotations and t % gt_every == 0:
            gt = root / annotations / seq / f"{t:05d}.png"
            if binary:
                Image.fromarray(((labels[t] > 0) * 255).astype(np.uint8)).save(gt)
            else:
                write_label_png(gt, labels[t])
    return labels


def evaluate(capsys, *argv):
    code = eval_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_ok(capsys, *argv):
    code, out, err = evaluate(capsys, *argv)
    assert code == 0, err
    return json.loads(out.strip().splitlines()[-1]), out


def test_davis_2016_val_uses_the_imageset_list_and_scores_a_good_prediction_high(
        tmp_path, capsys, oracle):
    root = tmp_path / "davis"
    for i, seq in enumerate(["bear", "camel", "train"]):
        write_seq(root, "JPEGImages/480p", "Annotations/480p", seq, seed=i, binary=True)
    (root / "ImageSets/2016").mkdir(parents=True)
    (root / "ImageSets/2016/val.txt").write_text("bear\ncamel\n")
    result, out = run_ok(capsys, "--checkpoint", "any.pt", "--davis", root, "--set", "2016-val",
                         "--out", tmp_path / "out", "--flow-cache", tmp_path / "cache")
    assert set(result["sequences"]) == {"bear", "camel"}
    assert result["sequence_list"].endswith("ImageSets/2016/val.txt")
    assert result["protocol"] == "linked"
    assert set(result["protocols"]) == {"linked", "reference", "single-channel"}
    assert result["J"] > 0.6 and result["protocols"]["reference"]["J"] > 0.6
    assert len(list((tmp_path / "out/linked/bear").glob("*.png"))) == N
    assert "protocol: reference" in out and "protocol: single-channel" in out


def test_davis_2016_single_channel_keeps_the_one_channel_the_ground_truth_picks(
        tmp_path, capsys, oracle):
    """GT = the left-moving object only: the merged protocols also paint the other moving object,
    the single-channel one keeps channel 1 alone."""
    root = tmp_path / "davis"
    write_seq(root, "JPEGImages/480p", "Annotations/480p", "bear", binary=True, only=2)
    result, _ = run_ok(capsys, "--checkpoint", "any.pt", "--davis", root, "--set", "2016-val",
                       "--out", tmp_path / "out", "--no-flow-cache")
    single = result["protocols"]["single-channel"]
    assert single["J"] > 0.6 and single["J"] > result["J"] + 0.2
    assert single["J"] > result["protocols"]["reference"]["J"] + 0.2
    masks = read_label_png(tmp_path / "out/single-channel/bear/00005.png")
    assert set(np.unique(masks)) == {0, 1} and not masks[6:22].any()  # object 1's rows: empty


def test_single_channel_is_refused_where_the_reference_merges_objects(tmp_path, capsys, oracle):
    root = tmp_path / "fbms"
    write_seq(root, "JPEGImages", "Annotations", "cars1")
    code, out, err = evaluate(capsys, "--checkpoint", "any.pt", "--fbms", root, "--out",
                              tmp_path / "out", "--protocol", "single-channel")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "--protocol single-channel" in err and "DAVIS 2016 and MoCA" in err
    assert not (tmp_path / "out").exists()


def test_davis2017_motion_scores_each_object_and_both_protocols(tmp_path, capsys, oracle):
    root = tmp_path / "davis"
    write_seq(root, "JPEGImages/480p", "Annotations/480p", "dogs")
    result, _ = run_ok(capsys, "--checkpoint", "any.pt", "--davis", root, "--set", "2017-motion",
                       "--out", tmp_path / "out", "--no-flow-cache")
    assert result["mode"] == "multi-object" and result["n_objects"] == 2
    assert result["J&F"] > 0.5 and result["protocols"]["reference"]["J&F"] > 0.5
    masks = read_label_png(tmp_path / "out/reference/dogs/00005.png")
    assert set(np.unique(masks)) <= {0, 1, 2, 3} and masks.shape == (H, W)


def test_the_reference_protocol_writes_each_windows_channels_under_their_matched_gt_ids(
        tmp_path, capsys, oracle):
    root = tmp_path / "davis"
    labels = write_seq(root, "JPEGImages/480p", "Annotations/480p", "dogs", swap=True)
    result, _ = run_ok(capsys, "--checkpoint", "any.pt", "--davis", root, "--set", "2017-motion",
                       "--out", tmp_path / "out", "--no-flow-cache", "--protocol", "reference")
    masks = read_label_png(tmp_path / "out/reference/dogs/00005.png")
    # channel 1 (moving left) matched GT object 1: written as id 1 where that object is
    inside = masks[labels[5] == 1]
    assert np.mean(inside == 1) > 0.8 and np.mean(masks[labels[5] == 2] == 2) > 0.8
    assert result["protocol"] == "reference" and result["J&F"] > 0.5


def test_fbms_scores_only_the_frames_that_have_ground_truth(tmp_path, capsys, oracle):
    root = tmp_path / "fbms"
    write_seq(root, "JPEGImages", "Annotations", "cars1", gt_every=3)
    write_seq(root, "JPEGImages", "Annotations", "horses", seed=1, gt_every=5, suffix=".png")
    result, _ = run_ok(capsys, "--checkpoint", "any.pt", "--fbms", root, "--out",
                       tmp_path / "out", "--no-flow-cache", "--protocol", "linked")
    assert result["sequences"]["cars1"]["n_frames"] == 4  # frames 0, 3, 6, 9
    assert result["sequences"]["horses"]["n_frames"] == 2
    assert result["mode"] == "merged" and list(result["protocols"]) == ["linked"]
    assert len(list((tmp_path / "out/linked/cars1").glob("*.png"))) == N  # all frames written


def test_segtrack_with_a_real_tiny_checkpoint_gives_scores_in_range(tmp_path, capsys, checkpoint):
    root = tmp_path / "segtrack"
    write_seq(root, "JPEGImages", "Annotations", "birdfall", suffix=".png")
    result, out = run_ok(capsys, "--checkpoint", checkpoint, "--segtrack", root, "--out",
                         tmp_path / "out", "--flow-cache", tmp_path / "cache", "--protocol",
                         "reference")
    assert 0 <= result["J"] <= 1 and 0 <= result["F"] <= 1 and result["protocol"] == "reference"
    assert result["benchmark"] == "SegTrackv2" and "mean over frames" in out


def test_an_order_readout_asked_for_reads_the_checkpoint_that_way_and_is_named(tmp_path, capsys,
                                                                                checkpoint):
    root = tmp_path / "segtrack"
    write_seq(root, "JPEGImages", "Annotations", "birdfall", suffix=".png")
    common = ("--checkpoint", checkpoint, "--segtrack", root, "--flow-cache", tmp_path / "cache",
              "--protocol", "linked")
    default, _ = run_ok(capsys, *common, "--out", tmp_path / "a")
    asked, _ = run_ok(capsys, *common, "--out", tmp_path / "b", "--order-readout", "occlusion")
    assert default["order_readout"] == "global" and asked["order_readout"] == "occlusion"
    assert default["spares"] is None  # no objectness head: nothing to ask
    code, _, err = evaluate(capsys, *common, "--out", tmp_path / "c", "--spares", "keep")
    line = err.strip().splitlines()[-1]
    assert code == 2 and "objectness head" in line and str(checkpoint) in line


def test_moca_scores_box_success_rates_from_the_csv(tmp_path, capsys, oracle):
    root = tmp_path / "moca"
    labels = write_seq(root, "JPEGImages", None, "flounder")
    rows = ["index,file,box,motion"]
    for t in (0, 4, 8):
        ys, xs = np.nonzero(labels[t] == 1)
        box = [2, int(xs.min()), int(ys.min()), int(np.ptp(xs) + 1), int(np.ptp(ys) + 1)]
        rows.append(f'{t},/flounder/{t:05d}.jpg,"{box}","{{""1"": ""0""}}"')
    (root / "moca.csv").write_text("\n".join(rows) + "\n")
    result, out = run_ok(capsys, "--checkpoint", "any.pt", "--moca", root, "--moca-csv",
                         root / "moca.csv", "--out", tmp_path / "out", "--no-flow-cache")
    # DIS smears motion a few pixels past the object: boxes are found, a little too large
    assert result["n_frames"] == 3 and result["success"]["0.5"] == 1.0 and result["SR"] > 0
    assert result["sequence_list"] == "the sequences of the box CSV"
    assert "success rate" in out and "protocol: single-channel" in out
    single = result["protocols"]["single-channel"]  # the box picks channel 0, object 1
    assert single["n_frames"] == 3 and single["success"]["0.5"] == 1.0
    masks = read_label_png(tmp_path / "out/single-channel/flounder/00004.png")
    assert set(np.unique(masks)) == {0, 1} and not masks[30:42].any()  # object 2's rows: empty


@pytest.mark.parametrize("make, argv, named", [
    (lambda r: (r / "JPEGImages").mkdir(parents=True), ["--set", "2016-val"], "JPEGImages/480p"),
    (lambda r: (r / "JPEGImages/480p/a").mkdir(parents=True), ["--set", "2017-motion"],
     "Annotations/480p"),
    (lambda r: (r / "Annotations/480p/a").mkdir(parents=True)
     or (r / "JPEGImages/480p").mkdir(parents=True), ["--set", "2016-val"], "JPEGImages/480p/a"),
])
def test_a_davis_root_in_the_wrong_layout_exits_2_naming_the_path(tmp_path, capsys, checkpoint,
                                                                   make, argv, named):
    root = tmp_path / "davis"
    make(root)
    code, out, err = evaluate(capsys, "--checkpoint", checkpoint, "--davis", root, *argv,
                              "--out", tmp_path / "out")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and str(root / named) in err


def test_ground_truth_for_a_frame_that_does_not_exist_is_named(tmp_path, capsys, oracle):
    root = tmp_path / "fbms"
    write_seq(root, "JPEGImages", "Annotations", "cars1")
    write_label_png(root / "Annotations/cars1/00099.png", np.zeros((H, W), np.uint8))
    code, _, err = evaluate(capsys, "--checkpoint", "any.pt", "--fbms", root, "--out",
                            tmp_path / "out", "--no-flow-cache")
    assert code == 2 and "00099.png" in err


def test_options_that_do_not_name_one_benchmark_are_refused(tmp_path, capsys, checkpoint):
    code, _, err = evaluate(capsys, "--checkpoint", checkpoint, "--davis", tmp_path, "--out",
                            tmp_path)
    assert code == 2 and "--set" in err
    code, _, err = evaluate(capsys, "--checkpoint", checkpoint, "--fbms", tmp_path, "--segtrack",
                            tmp_path, "--out", tmp_path)
    assert code == 2 and "exactly one" in err


def test_a_window_overlap_as_long_as_the_window_is_refused(tmp_path, capsys, checkpoint):
    root = tmp_path / "segtrack"
    write_seq(root, "JPEGImages", "Annotations", "birdfall")
    code, _, err = evaluate(capsys, "--checkpoint", checkpoint, "--segtrack", root, "--out",
                            tmp_path / "out", "--overlap", "8")
    assert code == 2 and "--overlap" in err


def test_the_runner_takes_a_frozen_config_and_reports_progress_per_sequence(tmp_path, oracle):
    root = tmp_path / "segtrack"
    write_seq(root, "JPEGImages", "Annotations", "birdfall", suffix=".png")
    write_seq(root, "JPEGImages", "Annotations", "frog", seed=1)
    seen = []

    def progress(items, total, description):
        seen.append((total, description))
        return items

    cfg = real_benchmarks.BenchmarkConfig(
        checkpoint="any.pt", benchmark="segtrack", root=str(root), out=str(tmp_path / "out"),
        protocol="linked", sequences=("frog",), flow=FlowSettings(use_cache=False))
    result = real_benchmarks.run_benchmark(cfg, progress=progress)
    assert list(result["sequences"]) == ["frog"] and result["J"] > 0.5
    assert seen == [(1, "sequences")]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.protocol = "both"


@pytest.mark.parametrize("settings, message", [
    ({"benchmark": "davis"}, "benchmark must be one of"),
    ({"benchmark": "moca"}, "needs moca_csv"),
    ({"protocol": "every"}, "protocol must be one of"),
    ({"protocol": "single-channel"}, "DAVIS 2016 and MoCA only"),
    ({"order_readout": "learned"}, "order_readout must be one of"),
    ({"spares": "front"}, "spares must be one of"),
])
def test_a_config_that_names_no_runnable_benchmark_is_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        real_benchmarks.BenchmarkConfig(**{"checkpoint": "c.pt", "benchmark": "fbms",
                                           "root": "r", "out": "o", **settings})
