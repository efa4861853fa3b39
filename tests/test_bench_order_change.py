"""bench/order_change.py's bookkeeping: which heads it trains and how it scores their gain."""

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture
def oc(monkeypatch):
    """The script as a module, loaded from its file (it imports learning_check beside it)."""
    monkeypatch.syspath_prepend(str(BENCH))
    spec = importlib.util.spec_from_file_location("order_change", BENCH / "order_change.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def row(head, seed, split, frame_order_acc, modal_j, amodal_j=0.6):
    return {"head": head, "seed": seed, "split": split, "frame_order_acc": frame_order_acc,
            "order_acc": frame_order_acc, "modal_j": modal_j, "amodal_j": amodal_j}


def test_the_head_option_names_the_per_frame_head_set_against_the_global_one(oc):
    assert oc.heads(oc.parse_args([])) == ("frame", "global")
    assert oc.heads(oc.parse_args(["--head", "visible"])) == ("visible", "global")
    with pytest.raises(SystemExit):
        oc.parse_args(["--head", "global"])


def test_the_gain_is_the_named_heads_mean_over_seeds_minus_the_global_heads(oc):
    rows = [row("visible", 0, "reorder", 0.70, 0.50), row("visible", 1, "reorder", 0.60, 0.40),
            row("global", 0, "reorder", 0.50, 0.45), row("global", 1, "reorder", 0.50, 0.45),
            row("visible", 0, "still", 0.6, 0.50), row("visible", 1, "still", 0.6, 0.50),
            row("global", 0, "still", 0.6, 0.53), row("global", 1, "still", 0.6, 0.53)]
    mean = oc.means(rows, ("visible", "global"))
    met = oc.verdicts(mean, "visible")
    assert met["frame_order_gain"]["value"] == pytest.approx(0.15)
    assert met["frame_order_gain"]["met"]
    assert met["modal_gain"]["value"] == pytest.approx(0.0) and not met["modal_gain"]["met"]
    assert met["still_within"]["value"] == pytest.approx(0.03)
    assert not met["still_within"]["met"]
    assert "visible" in oc.table(rows, mean)


def test_it_trains_with_the_learning_checks_batch_by_default(oc):
    import learning_check

    assert oc.parse_args([]).batch == learning_check.parse_args([]).batch == learning_check.BATCH
    assert oc.parse_args(["--batch", "2"]).batch == 2


def test_the_occlusion_frame_head_is_set_against_the_occlusion_head_on_one_training(oc, tmp_path):
    """The two readouts have no parameters, so the order terms train nothing and one training
    serves both: `reheaded` scores the same weights with the other readout."""
    import torch
    from oclr.checkpoint import save_checkpoint
    from oclr.model import build_model

    assert oc.heads(oc.parse_args(["--head", "occlusion_frame"])) == ("occlusion_frame",
                                                                      "occlusion")
    assert {oc.READINGS[h][0] for h in oc.heads(oc.parse_args(["--head", "occlusion_frame"]))} \
        == {"occlusion_frame"}
    net = build_model("tiny", height=16, width=16, frames=3, order_head="occlusion_frame")
    path = save_checkpoint({"model": net.state_dict(), "model_config": net.cfg.to_dict(),
                            "step": 1}, tmp_path / "last.pt")
    other = oc.reheaded(path, "occlusion", {"copies": "drop", "num_objects": 9})
    flow = torch.randn(1, 3, 4, 16, 16)
    with torch.no_grad():
        (per_frame_logits, per_frame), (logits, order) = net.eval()(flow), other(flow)
    torch.testing.assert_close(logits, per_frame_logits)  # the same weights
    k = net.cfg.num_objects
    assert per_frame.shape == (1, 3, k) and order.shape == (1, k)
    # the readout fields asked for, not the rest of the overrides (the weights decide those)
    assert other.cfg.copies == "drop" and other.cfg.num_objects == k


def test_the_readout_can_be_set_against_the_papers_global_head_instead(oc):
    args = oc.parse_args(["--head", "occlusion_frame", "--against", "global"])
    assert oc.heads(args) == ("occlusion_frame", "global")
    rows = [row("occlusion_frame", 0, "reorder", 0.70, 0.50),
            row("global", 0, "reorder", 0.55, 0.45),
            row("occlusion_frame", 0, "still", 0.7, 0.50), row("global", 0, "still", 0.6, 0.49)]
    met = oc.verdicts(oc.means(rows, oc.heads(args)), *oc.heads(args))
    assert met["frame_order_gain"]["value"] == pytest.approx(0.15)
    with pytest.raises(SystemExit):  # a learned per-frame head has no readout twin
        oc.parse_args(["--head", "frame", "--against", "occlusion"])


def test_a_finished_run_of_the_same_training_is_kept_and_any_other_trained_again(oc, tmp_path):
    import json

    import learning_check as lc
    from oclr.checkpoint import save_checkpoint
    from oclr.model import build_model

    net = build_model("tiny", height=16, width=16, frames=3)

    def finished_at(step):
        save_checkpoint({"model": net.state_dict(), "model_config": net.cfg.to_dict(),
                         "step": step}, run / "last.pt")

    args = oc.parse_args(["--keep-runs", "--steps", "7"])
    args.loss = lc.checked_overrides(list(lc.LOSS.items()), "loss")
    args.model = lc.checked_overrides(list(lc.MODEL.items()), "model")
    run, shards = tmp_path / "frame-seed0", tmp_path / "train"
    run.mkdir()
    want = oc.run_args(args, "frame", 0)
    loss = {"dice_weight": 1.0, **want.loss}  # a full LossConfig written out, as runs record it
    train = {"shards": str(shards), "out": str(run), "preset": "tiny", "model": want.model,
             "loss": loss, "seed": 0, "steps": 7, "batch": args.batch}
    (run / "config.json").write_text(json.dumps({"train": train}))
    finished_at(7)
    (run / "summary.json").write_text(json.dumps({"seconds": 12.5}))
    assert oc.kept_run(args, run, "frame", 0, shards) == {"seconds": 12.5}
    assert oc.kept_run(args, run, "frame", 1, shards) is None  # another seed
    assert oc.kept_run(args, run, "global", 0, shards) is None  # another head
    args.loss = {**args.loss, "order_weight": 0.05}
    assert oc.kept_run(args, run, "frame", 0, shards) is None  # another loss
    args.loss = want.loss
    finished_at(6)
    assert oc.kept_run(args, run, "frame", 0, shards) is None  # stopped before the end
    finished_at(7)
    (run / "config.json").write_text(json.dumps({"train": {"out": str(run)}}))
    assert oc.kept_run(args, run, "frame", 0, shards) is None  # a record it cannot read
    (run / "config.json").write_text(json.dumps({"train": train}))
    assert oc.kept_run(args, run, "frame", 0, shards) == {"seconds": 12.5}
    args.model = {**args.model, "copies": "keep" if want.model.get("copies") else "drop"}
    assert oc.kept_run(args, run, "frame", 0, shards) == {"seconds": 12.5}  # a readout field
    args.model = {**args.model, "num_objects": 4}
    assert oc.kept_run(args, run, "frame", 0, shards) is None  # another network
    args.model = want.model
    args.keep_runs = False
    assert oc.kept_run(args, run, "frame", 0, shards) is None  # not asked for


def test_the_global_heads_training_is_scored_with_the_readout_and_with_its_own_head(
        oc, tmp_path, monkeypatch):
    """--head global_readout: one training a seed (the paper's learned global head), read per
    frame by the occlusion readout and by its own head."""
    import oclr.eval_shards
    import torch
    from oclr.checkpoint import save_checkpoint
    from oclr.model import build_model

    args = oc.parse_args(["--head", "global_readout", "--seeds", "2"])
    args.model = {"copies": "drop"}
    assert oc.heads(args) == ("global_readout", "global")
    trained, scored = [], []

    def fake_training(args, run, head, seed, shards):
        trained.append((run.name, head, oc.run_args(args, head, seed).model["order_head"]))
        return {"seconds": 1.0}

    def fake_scores(model, folder, **_):
        scored.append((model.cfg.order_head, model.cfg.order_readout, model.cfg.copies))
        return {"clips": 1, "frame_order_pairs": 1, **{m: 0.5 for m in oc.METRICS}}

    net = build_model("tiny", height=16, width=16, frames=3)
    for seed in (0, 1):
        (tmp_path / f"global-seed{seed}").mkdir()
        save_checkpoint({"model": net.state_dict(), "model_config": net.cfg.to_dict(),
                         "step": 1}, tmp_path / f"global-seed{seed}" / "last.pt")
    monkeypatch.setattr(oc, "trained_run", fake_training)
    monkeypatch.setattr(oclr.eval_shards, "evaluate_shards", fake_scores)
    rows = oc.train_and_score(args, {"train": tmp_path, "reorder": tmp_path,
                                     "still": tmp_path}, tmp_path)
    assert trained == [("global-seed0", "global_readout", "global"),
                       ("global-seed1", "global_readout", "global")]
    per_seed = [("global", "occlusion_frame", "drop")] * 2 + [("global", "head", "drop")] * 2
    assert scored == per_seed * 2  # each split, the readout's reading then the head's
    assert [r["head"] for r in rows[:4]] == ["global_readout"] * 2 + ["global"] * 2
    flow = torch.randn(1, 3, 4, 16, 16)
    read = oc.reheaded(tmp_path / "global-seed0" / "last.pt", "global_readout", {})
    with torch.no_grad():
        assert read(flow)[1].shape == (1, net.cfg.num_objects)  # training's outputs unchanged
