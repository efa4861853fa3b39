import json
import subprocess
import sys

import numpy as np
import pytest
from oclr import cli_eval, real_benchmarks
from oclr.cli_eval import main
from oclr.davis_io import write_label_png
from oclrrun import imports_torch, invoke, script
from PIL import Image

H, W = 24, 32


def labels(shift=0):
    out = np.zeros((H, W), np.uint8)
    out[2:10, 2 + shift : 10 + shift] = 1
    out[14:22, 18:28] = 2
    return out


@pytest.fixture
def davis(tmp_path):
    """gt/ and pred/ in DAVIS layout: sequences 'bear' (exact) and 'cows' (object 1 shifted)."""
    for seq, shift in (("bear", 0), ("cows", 3)):
        for kind in ("gt", "pred"):
            (tmp_path / kind / seq).mkdir(parents=True)
            for t in range(3):
                frame = labels(shift if kind == "pred" else 0)
                write_label_png(tmp_path / kind / seq / f"{t:05d}.png", frame)
    return tmp_path


def test_pred_gt_prints_a_table_then_one_json_object_last(davis, capsys):
    out_json = davis / "out.json"
    code = main(["--pred", str(davis / "pred"), "--gt", str(davis / "gt"), "--json", str(out_json)])
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    result = json.loads(lines[-1])
    assert "bear" in lines[2] and "mean over objects" in "\n".join(lines)
    assert result["sequences"]["bear"]["J&F"] == 1.0
    assert 0.0 < result["sequences"]["cows"]["J"] < 1.0
    assert result["J"] == pytest.approx((3 + result["sequences"]["cows"]["objects"]["1"]["J"]) / 4)
    assert json.loads(out_json.read_text()) == result


def test_merge_objects_labels_both_averagings(davis, capsys):
    assert main(["--pred", str(davis / "pred"), "--gt", str(davis / "gt"), "--merge-objects"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out.strip().splitlines()[-1])
    assert result["mode"] == "merged" and "J_per_frame" in result and "J_per_sequence" in result
    assert "mean over sequences" in out and "mean over frames" in out


def test_sequences_option_reads_a_list_file_and_warns_about_unscored_predictions(davis, capsys):
    (davis / "val.txt").write_text("cows\n\n")
    assert main(["--pred", str(davis / "pred"), "--gt", str(davis / "gt"),
                 "--sequences", str(davis / "val.txt")]) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert list(json.loads(captured.out.strip().splitlines()[-1])["sequences"]) == ["cows"]
    assert "1 predicted sequence(s) not scored" in captured.err and "bear" in captured.err


def one_line_error(capsys):
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("oclr-eval: error:")
    assert "Traceback" not in captured.err and captured.out == ""
    return err[0]


def test_a_folder_not_in_davis_layout_exits_2_naming_it(davis, capsys):
    flat = davis / "flat"
    flat.mkdir()
    write_label_png(flat / "00000.png", labels())
    assert main(["--pred", str(flat), "--gt", str(davis / "gt")]) == 2
    assert str(flat) in one_line_error(capsys)


def test_a_missing_frame_exits_2_naming_it(davis, capsys):
    (davis / "pred" / "cows" / "00002.png").unlink()
    assert main(["--pred", str(davis / "pred"), "--gt", str(davis / "gt")]) == 2
    assert "pred/cows/00002.png: missing" in one_line_error(capsys)


def test_a_non_palette_prediction_exits_2_naming_it(davis, capsys):
    Image.new("RGB", (W, H)).save(davis / "pred" / "bear" / "00001.png")
    assert main(["--pred", str(davis / "pred"), "--gt", str(davis / "gt")]) == 2
    assert "pred/bear/00001.png: a mode RGB image" in one_line_error(capsys)


def test_more_than_twenty_predicted_ids_exits_2(davis, capsys):
    write_label_png(davis / "pred" / "bear" / "00000.png", np.full((H, W), 42, np.uint8))
    assert main(["--pred", str(davis / "pred"), "--gt", str(davis / "gt")]) == 2
    assert "predicted id 42" in one_line_error(capsys)


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "give --pred DIR --gt DIR"),
        (["--pred", "x"], "--pred and --gt go together"),
        (["--pred", "x", "--gt", "y", "--checkpoint", "c"], "different modes"),
        (["--pred", "x", "--gt", "y", "--bogus"], "unrecognized arguments: --bogus"),
        (["--pred", "x", "--gt", "y", "--workers", "0"], "expected a positive integer"),
    ],
)
def test_bad_option_combinations_exit_2_in_one_line(argv, message, capsys):
    assert main(argv) == 2
    assert message in one_line_error(capsys)


def test_a_mode_whose_module_is_missing_is_refused_in_one_line(monkeypatch, capsys):
    monkeypatch.setitem(cli_eval.MODE_MODULES, "shards", "oclr._no_such_eval_module")
    assert main(["--checkpoint", "c.pt", "--shards", "d"]) == 2
    assert "shards mode is not available" in one_line_error(capsys)


def test_checkpoint_modes_dispatch_to_their_module_with_its_own_options(monkeypatch, capsys):
    seen = {}
    monkeypatch.setattr(real_benchmarks, "run_benchmark",
                        lambda cfg, progress=None: seen.update(cfg=cfg) or {"J": 1.0})
    monkeypatch.setattr(real_benchmarks, "format_result", lambda result: "table")
    assert main(["--checkpoint", "c.pt", "--davis", "root", "--set", "2016-val",
                 "--out", "masks"]) == 0
    cfg = seen["cfg"]
    assert (cfg.checkpoint, cfg.root, cfg.benchmark) == ("c.pt", "root", "2016-val")
    assert not hasattr(cfg, "merge_objects")
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {"J": 1.0}


def test_the_pred_gt_path_never_imports_torch(davis):
    code = (
        "import sys; from oclr.cli_eval import main; "
        f"rc = main(['--pred', {str(davis / 'pred')!r}, '--gt', {str(davis / 'gt')!r}]); "
        "assert rc == 0 and 'torch' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


@pytest.mark.parametrize("mode_args, listed, absent", [
    ([], ["--merge-objects", "--workers N"], ["--limit", "--protocol"]),
    (["--checkpoint", "c.pt", "--shards", "d"],
     [("--flow {gt,raft,dis} input flow stored in the shards (default: the flow the "
       "checkpoint was trained on"), "--limit LIMIT",
      "--batch BATCH clips per forward pass",
      "--order-readout {head,occlusion,occlusion_frame}", "--spares {drop,behind,keep}"],
     ["--merge-objects", "--protocol"]),
    (["--checkpoint", "c.pt"],
     ["--set {2016-val,2017-motion}", "--protocol {all,both,linked,reference,single-channel}",
      "--flow {dis,raft} flow estimator", "--batch BATCH windows per forward pass",
      "--order-readout {head,occlusion,occlusion_frame} where the depth order",
      "--spares {drop,behind,keep} what is done"],
     ["--merge-objects", "--limit"]),
])
def test_help_lists_the_options_of_the_mode_the_inputs_choose(mode_args, listed, absent):
    ran = invoke(cli_eval.command, *mode_args, "--help")
    text = " ".join(ran.out.split())
    assert ran.code == 0 and "--pred DIR predicted masks" in text and "Each mode has" in text
    assert all(shown in text for shown in listed)
    assert not any(f"{name} " in text for name in absent)


def test_an_option_of_another_mode_is_refused_naming_it_and_the_mode_help(davis, capsys):
    assert main(["--pred", str(davis / "pred"), "--gt", str(davis / "gt"), "--limit", "2"]) == 2
    line = one_line_error(capsys)
    assert "unrecognized arguments: --limit" in line and "--pred DIR --gt DIR --help" in line


def test_the_console_script_scores_folders_and_refuses_a_bad_one_in_one_line(davis):
    ran = script("oclr-eval", "--pred", davis / "pred", "--gt", davis / "gt", "--merge-objects")
    assert ran.code == 0 and ran.last_json()["mode"] == "merged"
    ran = script("oclr-eval", "--pred", davis / "nowhere", "--gt", davis / "gt")
    assert str(davis / "nowhere") in ran.error_line("oclr-eval")


def test_the_console_script_names_a_bad_option_value_in_one_line(davis):
    ran = script("oclr-eval", "--pred", davis / "pred", "--gt", davis / "gt", "--workers", "-1")
    assert "'--workers'" in ran.error_line("oclr-eval")
    ran = script("oclr-eval", "--checkpoint", "c.pt", "--davis", davis, "--set", "2018")
    assert "'--set'" in ran.error_line("oclr-eval")


def test_help_does_not_load_torch():
    assert not imports_torch("oclr.cli_eval", "--checkpoint", "c.pt", "--help")
