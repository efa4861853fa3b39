import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from oclr import data, engine
from oclr.checkpoint import read_checkpoint
from oclr.config import TrainConfig
from oclr.losses import LossConfig

# A network small enough for a step in tens of milliseconds: the tiny preset, shrunk.
SMALL = {"frames": 4, "height": 32, "width": 48, "cnn_channels": [8, 16, 32],
         "d_model": 32, "heads": 2, "ffn_dim": 32}


class Reader:
    """`layersynth.open_dataset` stand-in: sequence i has 1 + i % 3 square objects moving right
    at 1, 2, 3 px a frame over a still background, with the matching flow."""

    def __init__(self, n=6, frames=4, size=(32, 48)):
        self.ids, self.frames, self.size = [f"{i:06d}" for i in range(n)], frames, size

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, sid):
        i = int(sid)
        k, t, (h, w) = 1 + i % 3, self.frames, self.size
        amodal = np.zeros((k, t, h, w), bool)
        flow = np.zeros((t, 2, h, w, 2), np.float32)
        modal = np.zeros((t, h, w), np.uint8)
        for layer in reversed(range(k)):
            y0, speed = 4 + 8 * layer, layer + 1
            for f in range(t):
                x0 = 4 + 6 * layer + speed * f + i
                amodal[layer, f, y0:y0 + 10, x0:x0 + 10] = True
                vis = amodal[layer, f]
                flow[f, 0][vis], flow[f, 1][vis] = (speed, 0), (-speed, 0)
                modal[f][vis] = layer + 1
        return {"amodal": amodal, "modal": modal, "flow_gt": flow,
                "order": np.arange(k, dtype=np.int16), "rgb": np.zeros((t, h, w, 3), np.uint8),
                "occluder": np.zeros((t, h, w), bool)}


@pytest.fixture
def fake_shards(monkeypatch):
    monkeypatch.setattr(data, "open_reader", lambda root: Reader())


def config(tmp_path, **kw):
    base = dict(shards="train", out=str(tmp_path / "run"), preset="tiny", model=SMALL, steps=4,
                batch=2, workers=0, log_every=1, seed=3)
    return TrainConfig(**{**base, **kw})


def metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def train_losses(run):
    return {m["step"]: m["train/loss"] for m in metrics(run) if "train/loss" in m}


def test_a_batch_with_one_two_and_three_objects_trains(fake_shards, tmp_path):
    cfg = config(tmp_path, batch=3).resolved()
    trainer = engine.Trainer(cfg, engine.D.DistInfo(), torch.device("cpu"))
    batch = torch.utils.data.default_collate([trainer.dataset[i] for i in range(3)])
    assert batch["valid"].sum(1).tolist() == [1, 2, 3]
    before = [p.detach().clone() for p in trainer.model.parameters()]
    terms = trainer.train_step(batch)
    assert all(np.isfinite(v) for v in terms.values()) and terms["order"] > 0
    changed = [not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters(),
                                                       strict=True)]
    assert sum(changed) > 0.9 * len(changed)
    assert trainer.step == 1 and trainer.sampler.position == 3


def test_a_run_writes_config_metrics_and_checkpoints(fake_shards, tmp_path):
    summary = engine.train(config(tmp_path, val_shards="val", val_every=2, ckpt_every=2,
                                  keep_every=4))
    run = tmp_path / "run"
    assert summary["step"] == 4 and np.isfinite(summary["loss"])
    assert sorted(p.name for p in run.glob("*.pt")) == ["last.pt", "step-4.pt"]
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["schedule"] == {"warmup": 1, "halve_every": 1} and cfg["model"]["height"] == 32
    vals = [m for m in metrics(run) if "val/amodal_j" in m]
    assert [m["step"] for m in vals] == [2, 4] and 0 <= vals[-1]["val/amodal_j"] <= 1
    ckpt = read_checkpoint(run / "last.pt")
    assert ckpt["step"] == 4 and ckpt["sampler"]["position"] == 8
    assert not list(run.glob(".*tmp*"))


def test_a_resumed_run_equals_an_unbroken_one_bit_for_bit(fake_shards, tmp_path):
    common = dict(steps=6, warmup=2, halve_every=2, ckpt_every=1, model={**SMALL, "dropout": 0.1})
    engine.train(config(tmp_path / "a", **common))
    engine.train(config(tmp_path / "b", **{**common, "steps": 3}))
    engine.train(config(tmp_path / "b", **common, resume=True))
    a, b = tmp_path / "a" / "run", tmp_path / "b" / "run"
    assert train_losses(a) == train_losses(b) and len(train_losses(b)) == 6
    wa, wb = read_checkpoint(a / "last.pt"), read_checkpoint(b / "last.pt")
    assert all(torch.equal(wa["model"][k], wb["model"][k]) for k in wa["model"])
    assert wa["scheduler"]["last_epoch"] == wb["scheduler"]["last_epoch"] == 6


def test_resuming_drops_metrics_logged_after_the_checkpoint(fake_shards, tmp_path):
    engine.train(config(tmp_path, steps=4, ckpt_every=2, keep_every=2))
    run = tmp_path / "run"
    # pretend the process died at step 4 before its checkpoint: last.pt is step 2's
    (run / "step-2.pt").replace(run / "last.pt")
    engine.train(config(tmp_path, steps=4, ckpt_every=2, keep_every=2, resume=True))
    steps = [m["step"] for m in metrics(run) if "train/loss" in m]
    assert steps == [1, 2, 3, 4]


def test_the_time_budget_stops_the_run_and_saves_it(fake_shards, tmp_path):
    summary = engine.train(config(tmp_path, steps=1000, max_seconds=0.0, ckpt_every=500))
    assert summary["stopped_early"] and summary["step"] == 1
    assert read_checkpoint(tmp_path / "run" / "last.pt")["step"] == 1


def test_the_learning_rate_follows_the_scaled_paper_schedule(fake_shards, tmp_path):
    engine.train(config(tmp_path, steps=6, warmup=2, halve_every=2, lr=1e-3))
    lrs = [m["train/lr"] for m in metrics(tmp_path / "run") if "train/lr" in m]
    assert lrs == pytest.approx([5e-4, 1e-3, 5e-4, 5e-4, 2.5e-4, 2.5e-4])


@pytest.mark.slow  # 200 steps of the tiny network (at 32 x 48, 4 frames): ~30 s on 2 free cores
def test_the_tiny_network_halves_the_papers_loss_within_200_steps(tmp_path):
    shards = tmp_path / "train"
    subprocess.run([str(Path(sys.executable).parent / "layersynth"), "generate", "--preset",
                    "tiny", "--n", "6", "--size", "32x48", "--frames", "4", "--workers", "1",
                    "--out", str(shards)], check=True, capture_output=True)
    cfg = TrainConfig(shards=str(shards), out=str(tmp_path / "run"), preset="tiny",
                             model={"frames": 4, "height": 32, "width": 48}, steps=200, batch=2,
                             warmup=10, halve_every=100, workers=0, log_every=1, seed=0,
                             threads=1)
    threads = torch.get_num_threads()
    try:
        engine.train(cfg)
    finally:
        torch.set_num_threads(threads)
    # The tiny preset trains on the paper's loss plus a Dice term (oclr.config.DEFAULT_LOSS). The
    # paper's part must halve; the Dice term, which stays near 1 until small objects are found,
    # must fall too (by a sixth at least: on the anti-aliased, mip-mapped data of issue 14 it
    # fell from 0.90 to 0.73 in these 200 steps; an untrained network stays near 1).
    rows = [m for m in metrics(tmp_path / "run") if "train/dice" in m]
    paper = [m["train/amodal"] + 0.2 * m["train/boundary"] + 0.05 * m["train/order"]
             for m in rows]
    dice = [m["train/dice"] for m in rows]
    assert len(rows) == 200
    assert np.mean(paper[-10:]) <= 0.5 * np.mean(paper[:10]), (paper[:10], paper[-10:])
    assert np.mean(dice[-10:]) <= 0.85 * np.mean(dice[:10]), (dice[:10], dice[-10:])


def test_each_preset_records_its_loss_settings_and_overrides_win():
    paper = TrainConfig(shards="s", out="o", preset="oclr").resolved().loss
    tiny = TrainConfig(shards="s", out="o", preset="tiny").resolved().loss
    assert paper == dataclasses.asdict(LossConfig()) and paper["dice_weight"] == 0
    assert tiny == {**paper, "dice_weight": 1.0}
    plain = TrainConfig(shards="s", out="o", preset="tiny", loss={"dice_weight": 0})
    assert plain.resolved().loss == paper
    with pytest.raises(TypeError, match="wings"):
        TrainConfig(shards="s", out="o", preset="tiny", loss={"wings": 1})
