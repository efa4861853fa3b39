"""oclr-infer end to end: a layersynth sequence as JPEG frames and as an MP4, a tiny checkpoint
trained for one step in the test."""

import json

import numpy as np
import pytest
from layersynth.cli.main import main as layersynth_main
from oclr.cli_infer import command, main
from oclr.realvideo import FlowSettings
from oclr.segment_video import SegmentConfig, segment_video
from oclr.video_io import open_writer
from oclrrun import imports_torch, invoke, script
from PIL import Image

FRAMES = 20  # more than one 8-frame window of the tiny preset, so identities must be linked


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    import layersynth
    from oclr.config import TrainConfig
    from oclr.engine import train

    root = tmp_path_factory.mktemp("infer")
    code = layersynth_main(["generate", "--preset", "tiny", "--n", "1", "--frames", str(FRAMES),
                            "--out", str(root / "shards"), "--workers", "1"])
    assert code == 0
    train(TrainConfig(shards=str(root / "shards"), out=str(root / "run"), preset="tiny", steps=1,
                      batch=1, workers=0))
    ds = layersynth.open_dataset(root / "shards")
    rgb = ds[ds.ids[0]]["rgb"]
    (root / "frames").mkdir()
    for t, frame in enumerate(rgb):
        Image.fromarray(frame).save(root / "frames" / f"{t:05d}.jpg")
    with open_writer(root / "clip.mp4", fps=10, backend="ffmpeg") as writer:
        for frame in rgb:
            writer.append(frame)
    return root, rgb.shape


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def check_outputs(out_dir, shape, stdout):
    t, h, w, _ = shape
    masks = sorted((out_dir / "masks").glob("*.png"))
    assert len(masks) == t
    for path in masks:
        with Image.open(path) as png:
            assert png.mode == "P" and png.size == (w, h)
            assert np.asarray(png).max() <= 3
    assert len(list((out_dir / "amodal").glob("*_*.png"))) == 3 * t
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["frames"] == t and summary["windows"] >= 3
    assert (out_dir / "overlay.mp4").stat().st_size > 0
    return summary


def test_oclr_infer_on_jpeg_frames_writes_a_mask_per_frame_at_the_frame_size(setup, capsys,
                                                                                 tmp_path):
    root, shape = setup
    code, out, _ = run(capsys, "--checkpoint", str(root / "run" / "last.pt"), "--frames",
                       str(root / "frames"), "--out", str(tmp_path / "out"), "--flow-cache",
                       str(tmp_path / "cache"))
    assert code == 0
    summary = check_outputs(tmp_path / "out", shape, out)
    assert (tmp_path / "out" / "masks" / "00019.png").is_file()
    assert summary["overlay"].endswith("overlay.mp4")
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1


def test_oclr_infer_on_an_mp4_writes_the_same_number_and_size_of_masks(setup, capsys, tmp_path):
    root, shape = setup
    code, out, _ = run(capsys, "--checkpoint", str(root / "run" / "last.pt"), "--video",
                       str(root / "clip.mp4"), "--out", str(tmp_path / "out"), "--no-flow-cache")
    assert code == 0
    check_outputs(tmp_path / "out", shape, out)


def test_flow_on_shrunk_frames_still_gives_masks_at_the_frame_size(setup, capsys, tmp_path):
    root, shape = setup
    code, out, _ = run(capsys, "--checkpoint", str(root / "run" / "last.pt"), "--frames",
                       str(root / "frames"), "--out", str(tmp_path / "out"), "--flow-width", "56",
                       "--no-flow-cache")
    assert code == 0
    assert check_outputs(tmp_path / "out", shape, out)["flow_width"] == 56
    code, _, err = run(capsys, "--checkpoint", str(root / "run" / "last.pt"), "--frames",
                       str(root / "frames"), "--out", str(tmp_path / "bad"), "--flow-width", "4")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--flow-width 4" in err


def test_a_folder_without_frames_exits_2_with_one_line_naming_it(setup, capsys, tmp_path):
    root, _ = setup
    (tmp_path / "empty").mkdir()
    code, out, err = run(capsys, "--checkpoint", str(root / "run" / "last.pt"), "--frames",
                         str(tmp_path / "empty"), "--out", str(tmp_path / "out"))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and str(tmp_path / "empty") in err


def test_a_missing_checkpoint_exits_2_with_one_line_naming_it(setup, capsys, tmp_path):
    root, _ = setup
    code, _, err = run(capsys, "--checkpoint", str(tmp_path / "none.pt"), "--frames",
                       str(root / "frames"), "--out", str(tmp_path / "out"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "none.pt" in err


@pytest.mark.slow
def test_oclr_infer_with_raft_from_local_weights_writes_masks_and_caches_apart_from_dis(
        setup, capsys, tmp_path):
    import warnings

    import torch
    from layersynth.estimators.raft import import_ptlflow

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        raft = import_ptlflow().get_model("raft")
    weights = tmp_path / "raft-random.ckpt"
    torch.save({"state_dict": raft.state_dict(), "hyper_parameters": {}}, weights)
    root, (_, h, w, _) = setup
    frames = tmp_path / "frames"
    frames.mkdir()
    for path in sorted((root / "frames").glob("*.jpg"))[:2]:
        (frames / path.name).write_bytes(path.read_bytes())
    cache = tmp_path / "cache"
    for flow in ("raft", "dis"):
        code, out, err = run(capsys, "--checkpoint", str(root / "run" / "last.pt"), "--frames",
                             str(frames), "--out", str(tmp_path / flow), "--flow", flow,
                             "--raft-weights", str(weights), "--flow-cache", str(cache),
                             "--no-overlay")
        assert code == 0, err
        assert json.loads(out.strip().splitlines()[-1])["flow"] == flow
        assert len(list((tmp_path / flow / "masks").glob("*.png"))) == 2
    assert len(list(cache.glob("*.npy"))) == 2


def test_the_library_call_writes_what_the_command_writes(setup, tmp_path):
    root, shape = setup
    cfg = SegmentConfig(checkpoint=str(root / "run" / "last.pt"), out=str(tmp_path / "out"),
                        frames=str(root / "frames"), flow=FlowSettings(use_cache=False),
                        overlay=False)
    summary = segment_video(cfg)
    assert summary["frames"] == shape[0] and summary["overlay"] is None
    assert len(list((tmp_path / "out" / "masks").glob("*.png"))) == shape[0]


def test_frames_and_video_together_or_neither_are_one_line_naming_both(setup, capsys, tmp_path):
    root, _ = setup
    ckpt = str(root / "run" / "last.pt")
    for source in ([], ["--frames", str(root / "frames"), "--video", str(root / "clip.mp4")]):
        code, out, err = run(capsys, "--checkpoint", ckpt, *source, "--out", str(tmp_path))
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
        assert "--frames DIR or --video FILE" in err


def test_help_keeps_every_option_its_metavar_and_text():
    ran = invoke(command, "--help")
    text = " ".join(ran.out.split())
    assert ran.code == 0
    for shown in ("--checkpoint CKPT a trained model", "--frames DIR", "--video FILE",
                  "--flow {dis,raft} flow estimator (default dis;", "--raft-weights PATH",
                  "--flow-width W", "--no-flow-cache estimate flow, store nothing",
                  "--batch BATCH windows per forward pass (default 1)", "--fps FPS",
                  "--order-readout {head,occlusion,occlusion_frame} where the depth order",
                  "--spares {drop,behind,keep} what is done with the layers"):
        assert shown in text


def test_click_rejects_a_bad_window_count_naming_the_option():
    ran = invoke(command, "--checkpoint", "c.pt", "--frames", "f", "--out", "o", "--batch", "x")
    assert ran.code == 2 and "'--batch'" in ran.err


def test_the_console_script_names_a_missing_checkpoint_in_one_line(setup, tmp_path):
    root, _ = setup
    ran = script("oclr-infer", "--checkpoint", tmp_path / "none.pt", "--frames", root / "frames",
                 "--out", tmp_path / "out", "--no-flow-cache")
    assert "none.pt" in ran.error_line("oclr-infer") and ran.out == ""


def test_the_console_script_names_a_missing_required_option(tmp_path):
    ran = script("oclr-infer", "--frames", tmp_path, "--out", tmp_path / "out")
    assert "'--checkpoint'" in ran.error_line("oclr-infer")
    ran = script("oclr-infer", "--checkpoint", "c.pt", "--frames", tmp_path, "--out", tmp_path,
                 "--flow", "farneback")
    assert "'--flow'" in ran.error_line("oclr-infer")


def test_help_does_not_load_torch():
    assert not imports_torch("oclr.cli_infer", "--help")


def test_a_reference_code_checkpoint_gives_the_masks_of_the_same_weights_in_our_format(
        setup, capsys, tmp_path):
    import torch
    from oclr.checkpoint import read_weights, save_checkpoint
    from oclr.model import build_model
    from oclr.reference_weights import to_reference
    from refckpt import write_reference_checkpoint

    root, shape = setup
    torch.manual_seed(5)
    model = build_model("tiny", norm="reference", map_scale=1.0)
    ref = write_reference_checkpoint(tmp_path / "ref.pth", to_reference(model))
    config, weights, kind = read_weights(ref)
    assert kind == "reference"
    own = save_checkpoint({"model": weights, "model_config": config.to_dict()}, tmp_path / "own.pt")
    masks = {}
    for name, ckpt in (("ref", ref), ("own", own)):
        code, out, err = run(capsys, "--checkpoint", str(ckpt), "--frames", str(root / "frames"),
                             "--out", str(tmp_path / name), "--no-flow-cache", "--no-overlay")
        assert code == 0, err
        masks[name] = [p.read_bytes() for p in sorted((tmp_path / name).glob("*/*.png"))]
    assert len(masks["ref"]) == 4 * shape[0] and masks["ref"] == masks["own"]  # modal + 3 amodal
    amodal = [np.asarray(Image.open(p)) for p in sorted((tmp_path / "ref" / "amodal").glob("*"))]
    assert 0 < np.mean([(a > 0).mean() for a in amodal]) < 1  # masks that hold something
