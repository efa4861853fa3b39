"""oclr.cli_flow: the --flow options oclr-infer and oclr-eval's benchmark mode share, the same on
both commands, read into one FlowSettings, and a bad value refused in one line naming it."""

import numpy as np
import pytest
from oclr import cli_eval, cli_infer
from oclr.cli_flow import FLOW_OPTIONS, flow_settings
from oclr.realvideo import FlowSettings
from oclrrun import invoke
from tinyvideo import random_checkpoint, random_frames

NAMES = [names[0] for names, _ in FLOW_OPTIONS]


def flow_params(params):
    return {p.opts[0]: p for p in params if p.opts[0] in NAMES}


def squeezed(text):
    """`text` without whitespace: help wrapped at any width (even inside "854-px") compares."""
    return "".join(text.split())


def test_both_commands_have_every_flow_option_with_the_same_type_default_and_help():
    infer = flow_params(cli_infer.command.params)
    benchmark = flow_params(cli_eval.MODE_OPTIONS["benchmark"])
    assert list(infer) == list(benchmark) == NAMES
    for name in NAMES:
        assert infer[name] is not benchmark[name]
        assert infer[name].to_info_dict() == benchmark[name].to_info_dict(), name
    defaults = {name: param.to_info_dict()["default"] for name, param in infer.items()}
    assert defaults == {"--flow": "dis", "--raft-weights": None, "--device": "cpu",
                        "--flow-width": None, "--flow-cache": None, "--no-flow-cache": False}


def test_both_helps_show_each_flow_option_with_its_metavar_and_text():
    helps = {"oclr-infer": invoke(cli_infer.command, "--help"),
             "oclr-eval": invoke(cli_eval.command, "--checkpoint", "c.pt", "--help")}
    for prog, ran in helps.items():
        assert ran.code == 0, (prog, ran.err)
        for names, settings in FLOW_OPTIONS:
            shown = " ".join([names[0], settings.get("metavar", ""), settings["help"]])
            assert squeezed(shown) in squeezed(ran.out), (prog, names[0])


def test_the_parsed_options_make_the_flow_settings_they_name():
    ctx = cli_infer.command.make_context("oclr-infer", [
        "--checkpoint", "c.pt", "--frames", "f", "--out", "o", "--flow", "raft",
        "--raft-weights", "w.ckpt", "--flow-width", "448", "--flow-cache", "cache",
        "--no-flow-cache"])
    assert flow_settings(ctx.params) == FlowSettings(
        method="raft", raft_weights="w.ckpt", flow_width=448, cache="cache", use_cache=False)
    ctx = cli_infer.command.make_context("oclr-infer", ["--checkpoint", "c.pt", "--frames", "f",
                                                        "--out", "o"])
    assert flow_settings(ctx.params) == FlowSettings()


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    root = tmp_path_factory.mktemp("flow-options")
    random_frames(root / "frames", 2, rng=np.random.default_rng(1))
    return ["--checkpoint", str(random_checkpoint(root / "tiny.pt", seed=1)),
            "--frames", str(root / "frames")]


@pytest.mark.parametrize("argv, named", [
    (["--flow-width", "-5"], "--flow-width -5"),  # an integer, refused once the model is known
    (["--flow-width", "0"], "--flow-width 0"),
    (["--flow-width", "448.5"], "'--flow-width'"),  # not an integer: click refuses it
    (["--flow-width", "wide"], "'--flow-width'"),
    (["--flow", "farneback"], "'--flow'"),
    (["--raft-weights", "none.ckpt"], "--raft-weights none.ckpt"),
])
def test_a_bad_flow_value_exits_2_with_one_stderr_line_naming_the_option(video, tmp_path,
                                                                         capsys, argv, named):
    code = cli_infer.main([*video, "--out", str(tmp_path / "out"), "--no-flow-cache", *argv])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith("oclr-infer: error: ") and named in err
    assert not (tmp_path / "out").exists()


def test_the_benchmark_mode_refuses_a_non_integer_flow_width_in_one_line(capsys, tmp_path):
    code = cli_eval.main(["--checkpoint", "c.pt", "--segtrack", str(tmp_path), "--out",
                          str(tmp_path / "out"), "--flow-width", "wide"])
    _, err = capsys.readouterr()
    assert code == 2 and len(err.strip().splitlines()) == 1 and "'--flow-width'" in err
