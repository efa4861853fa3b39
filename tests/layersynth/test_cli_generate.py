"""`layersynth generate`: bad options refused in one line before any work; summary, JSON, resume."""

import numpy as np
import pytest
from clirun import SMALL, invoke, script
from layersynth import open_dataset
from layersynth.cli.generate import command, parse_flow, scene_overrides
from layersynth.cli.main import main
from layersynth.errors import UsageError
from layersynth.scene.params import SceneParams


@pytest.mark.parametrize("bad, message", [
    (["--size", "32"], "--size 32: expected HxW"),
    (["--size", "8x48"], "--size 8x48: at least 16 pixels"),
    (["--objects", "0,1"], "--objects 0,1: a non-empty tuple of counts >= 1"),
    (["--objects", "1,x"], "--objects 1,x: expected counts like 1,2,3"),
    (["--occlusion", "0.6:0.2"], "--occlusion 0.6:0.2: need (lo, hi) with 0 <= lo <= hi"),
    (["--occlusion", "0.2:1.5"], "--occlusion 0.2:1.5: need 0 <= lo <= hi <= 1"),
    (["--occlusion", "half"], "--occlusion half: expected LO:HI"),
    (["--flow", "gt,pwc"], "--flow gt,pwc: unknown method 'pwc'"),
    (["--workers", "0"], "--workers 0: must be at least 1"),
    (["--n", "0"], "--n 0: must be at least 1"),
    (["--n", "many"], "Invalid value for '--n': 'many' is not a valid integer"),
    (["--seed", "-1"], "--seed -1: must be at least 0"),
    (["--shard-size", "0"], "--shard-size 0: must be at least 1"),
    (["--frames", "0"], "--frames 0: a positive integer"),
    (["--time-step", "0"], "--time-step 0: nominal frames per frame in (0, 4], got 0.0"),
    (["--time-step", "fast"], "--time-step fast: expected a number of nominal frames per frame"),
    (["--gaps", "1,1"], "--gaps 1,1: each gap once, got 1,1"),
    (["--gaps", "1,4"], "--gaps 1,4: gaps: each gap below the clip's 4 frames, got 1,4"),
    (["--preset", "big"], "Invalid value for '--preset': 'big' is not one of"),
    (["--textures", "/no/such/dir"], "--textures /no/such/dir: no such folder"),
    (["--raft-weights", "/no/w.ckpt", "--flow", "gt,raft"], "--raft-weights /no/w.ckpt: no such"),
])
def test_bad_generate_options_give_one_line_and_exit_2_before_any_work(tmp_path, bad, message):
    ran = invoke("generate", "--n", "2", "--out", tmp_path / "d", *SMALL, *bad)
    assert message in ran.error_line()
    assert not (tmp_path / "d").exists()


def test_the_console_script_refuses_a_bad_size_in_one_line_naming_the_option(tmp_path):
    ran = script("generate", "--n", "2", "--out", tmp_path / "d", *SMALL, "--size", "32")
    assert "--size 32: expected HxW" in ran.error_line()
    assert not (tmp_path / "d").exists()


def test_a_missing_required_option_is_named_in_one_line():
    assert "Missing option '--out'" in invoke("generate", "--n", "2").error_line()


def test_raft_weights_without_raft_flow_are_refused(tmp_path):
    weights = tmp_path / "w.ckpt"
    weights.write_bytes(b"x")
    ran = invoke("generate", "--n", "2", "--out", tmp_path / "d", *SMALL,
                 "--raft-weights", weights)
    assert "--raft-weights is only used with --flow ...,raft" in ran.error_line()


def test_scene_values_are_checked_by_scene_config_with_the_chosen_preset(tmp_path):
    ran = invoke("generate", "--n", "1", "--out", tmp_path / "d", "--preset", "tiny",
                 "--objects", "1,255")
    assert "--objects 1,255: at most 254 objects" in ran.error_line()
    with pytest.raises(UsageError, match=r"^--frames 0: a positive integer, got 0$"):
        scene_overrides("tiny", *_overrides("--frames", "0"))


def _overrides(*argv: str):
    ctx = command.make_context("generate", ["--n", "1", "--out", "x", *argv])
    return [ctx.params[k] for k in ("frames", "size", "objects", "occlusion")]


def test_scene_options_set_the_scene_config_fields_they_name():
    fields = scene_overrides("oclr", *_overrides("--size", "32X48", "--objects", "2,3",
                                                 "--occlusion", "0.1:0.4", "--frames", "5"))
    assert fields == {"height": 32, "width": 48, "objects": (2, 3), "occlusion": (0.1, 0.4),
                      "frames": 5}


def test_event_rate_options_set_their_fields_and_are_checked_by_scene_config(tmp_path):
    ctx = command.make_context("generate", ["--n", "1", "--out", "x", "--static-spells", "0.5",
                                            "--enter-exit", "0.2", "--full-occlusions", "1"])
    given = [ctx.params[k] for k in ("static_spells", "enter_exit", "full_occlusions")]
    assert scene_overrides("oclr", *given) == {"static_spell_prob": 0.5, "enter_exit_prob": 0.2,
                                               "full_occlusion_prob": 1.0}
    ran = invoke("generate", "--n", "1", "--out", tmp_path / "d", "--full-occlusions", "1.5")
    assert "--full-occlusions 1.5: must be in [0, 1], got 1.5" in ran.error_line()
    ran = invoke("generate", "--n", "1", "--out", tmp_path / "d", "--static-spells", "often")
    assert "--static-spells often: expected a rate in [0, 1]" in ran.error_line()


def _rates(*argv: str) -> list:
    ctx = command.make_context("generate", ["--n", "1", "--out", "x", *argv])
    return [ctx.params[k] for k in ("static_spells", "enter_exit", "full_occlusions")]


def test_event_rates_are_checked_together_so_a_valid_combination_passes():
    # 0.8 alone is too much beside the preset's enter_exit_prob 0.3, but not beside 0.1.
    assert scene_overrides("oclr", *_rates("--static-spells", "0.8", "--enter-exit", "0.1")) == {
        "static_spell_prob": 0.8, "enter_exit_prob": 0.1}
    with pytest.raises(UsageError, match=r"^--static-spells 0\.8 --enter-exit 0\.5: "
                       r"static_spell_prob \+ enter_exit_prob: at most 1 .* got 0\.8 \+ 0\.5$"):
        scene_overrides("oclr", *_rates("--static-spells", "0.8", "--enter-exit", "0.5"))
    with pytest.raises(UsageError, match=r"^--static-spells 0\.8: .* got 0\.8 \+ 0\.3$"):
        scene_overrides("oclr", *_rates("--static-spells", "0.8"))


@pytest.mark.parametrize("preset, namespace", [("syn-val-static", 2), ("syn-val-occluded", 3),
                                               ("syn-val-articulated", 4),
                                               ("syn-val-reorder", 5)])
def test_the_syn_val_splits_generate_through_the_cli_with_their_events(tmp_path, preset,
                                                                       namespace):
    out = tmp_path / preset
    ran = invoke("generate", "--n", "2", "--out", out, "--preset", preset, "--frames", "12",
                 "--size", "48x64", "--workers", "1", "--shard-size", "2")
    assert ran.code == 0, ran.err
    ds = open_dataset(out)
    records = [ds.record(i) for i in ds.ids]
    assert all(r["seed"]["spawn_key"][0] == namespace for r in records)
    scenes = [r["scene"] for r in records]
    if preset == "syn-val-static":
        assert all(o["spell"] is not None for sc in scenes for o in sc["objects"])
    elif preset == "syn-val-occluded":
        assert all(sc["hidden"] >= 0 for sc in scenes)
    elif preset == "syn-val-reorder":
        assert all(len(sc["objects"]) > 1 and len(sc["order_changes"]) == 1 for sc in scenes)
    else:
        assert all(o["sprite"]["kind"] == "articulated" for sc in scenes for o in sc["objects"])
    assert f"preset `{preset}`" in (out / "DATASET.md").read_text()


def test_flow_lists_always_store_gt_first_then_the_estimated_flows_in_one_order():
    assert parse_flow("raft,dis") == ("gt", "dis", "raft")
    assert parse_flow("gt") == ("gt",)
    assert parse_flow(" dis , ") == ("gt", "dis")


def test_an_unreachable_scheduler_is_refused_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setattr("layersynth.pipeline.generation.CONNECT_TIMEOUT", "1s")
    ran = invoke("generate", "--n", "2", "--out", tmp_path / "d", *SMALL,
                 "--scheduler", "tcp://127.0.0.1:1")
    assert "--scheduler tcp://127.0.0.1:1: cannot reach the Dask scheduler" in ran.error_line()
    assert not (tmp_path / "d").exists()


def test_generate_prints_a_summary_then_json_and_resumes_with_nothing_to_do(tmp_path):
    argv = ["generate", "--n", "3", "--out", str(tmp_path / "d"), *SMALL]
    ran = invoke(*argv)
    assert ran.code == 0 and "sequences      3 (3 made, 0 kept)" in ran.out
    assert ran.last_json()["shards"] == 2
    ran = invoke(*argv, "--workers", "2")
    assert ran.code == 0 and ran.last_json()["kept"] == 3
    ran = invoke(*argv[:-2], "--seed", "4")
    assert "seed: 3 -> 4" in ran.error_line()


def test_the_entry_point_and_the_console_script_generate_the_same_dataset(tmp_path, capsys):
    argv = ["generate", "--n", "1", *SMALL]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    made = script(*argv, "--out", tmp_path / "b")
    assert made.code == 0 and made.last_json()["made"] == 1
    first = (tmp_path / "a" / "shard-00000.h5").read_bytes()
    assert first == (tmp_path / "b" / "shard-00000.h5").read_bytes()


def test_time_step_and_gaps_set_their_scene_fields_and_are_checked_with_the_frames():
    ctx = command.make_context("generate", ["--n", "1", "--out", "x", "--time-step", "0.5",
                                            "--gaps", "2,1", "--frames", "9"])
    given = [ctx.params[k] for k in ("frames", "time_step", "gaps")]
    assert scene_overrides("tiny", *given) == {"frames": 9, "time_step": 0.5, "gaps": (2, 1)}
    ctx = command.make_context("generate", ["--n", "1", "--out", "x", "--gaps", "1,3",
                                            "--frames", "3"])
    with pytest.raises(UsageError, match=r"^--frames 3 --gaps 1,3: gaps: each gap below the "
                                         r"clip's 3 frames, got 1,3$"):
        scene_overrides("tiny", *(ctx.params[k] for k in ("frames", "gaps")))


def test_a_dataset_at_half_the_time_step_holds_the_first_one_at_its_even_frames(tmp_path):
    coarse = invoke("generate", "--n", "2", "--out", tmp_path / "a", *SMALL)
    fine = invoke("generate", "--n", "2", "--out", tmp_path / "b", *SMALL, "--frames", "7",
                  "--time-step", "0.5", "--gaps", "1,2")
    assert coarse.code == 0 and fine.code == 0, (coarse.err, fine.err)
    a, b = open_dataset(tmp_path / "a"), open_dataset(tmp_path / "b")
    for seq in a.ids:
        assert b.record(seq)["scene"]["time_step"] == 0.5
        x, y = a.read(seq), b.read(seq)
        assert y["rgb"].shape[0] == 7
        for name in ("rgb", "modal", "occluder"):
            assert np.array_equal(y[name][::2], x[name]), name
        assert np.array_equal(y["amodal"][:, ::2], x["amodal"])
        # the fine run's gap +-2 flow is the coarse run's +-1, as stored (float16 quantum)
        assert b.gaps == (1, 2) and a.gaps == (1,)
        assert np.array_equal(b.flow_for(y["flow_gt"], 2)[::2], x["flow_gt"][:, 0])
        assert np.array_equal(b.flow_for(y["flow_gt"], -2)[::2], x["flow_gt"][:, 1])


def test_order_changes_reach_the_shards_as_per_frame_order_and_the_records_count_them(tmp_path):
    out = tmp_path / "d"
    ran = invoke("generate", "--n", "3", "--out", out, *SMALL, "--frames", "8", "--objects", "1,2",
                 "--order-changes", "1")
    assert ran.code == 0, ran.err
    ds = open_dataset(out)
    assert ds.settings["scene"]["order_change_prob"] == 1.0
    for i in ds.ids:
        record, order = ds.record(i), ds[i]["order"]
        scene = SceneParams.from_dict(record["scene"])
        assert order.shape == (scene.frames, len(scene.objects))
        np.testing.assert_array_equal(order, scene.frame_order())
        assert len(scene.order_changes) == (len(scene.objects) > 1)
        changed = int(np.any(order[1:] != order[:-1], axis=1).sum())
        assert record["stats"]["order_changes"] == changed == len(scene.order_changes)
