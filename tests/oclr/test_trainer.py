"""Tests of oclr.trainer: building a run's state from its config, resuming it, one step."""

import dataclasses
import math

import numpy as np
import pytest
import torch
from oclr import data
from oclr.checkpoint import read_checkpoint
from oclr.config import TrainConfig
from oclr.distributed import DistInfo
from oclr.matching import HungarianMatcher
from oclr.trainer import Trainer, build_trainer

SMALL = {"frames": 4, "height": 32, "width": 48, "cnn_channels": [8, 16, 32],
         "d_model": 32, "heads": 2, "ffn_dim": 32}
CPU = torch.device("cpu")


class Reader:
    """`layersynth.open_dataset` stand-in: 4 sequences, one square each, 2 px/frame."""

    ids = [f"{i:06d}" for i in range(4)]

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, sid):
        t, h, w = 4, 32, 48
        amodal = np.zeros((1, t, h, w), bool)
        flow = np.zeros((t, 2, h, w, 2), np.float32)
        for f in range(t):
            x0 = 4 + 2 * f + int(sid)
            amodal[0, f, 8:20, x0:x0 + 12] = True
            flow[f, 0][amodal[0, f]], flow[f, 1][amodal[0, f]] = (2, 0), (-2, 0)
        return {"amodal": amodal, "modal": amodal[0].astype(np.uint8), "flow_gt": flow,
                "order": np.zeros(1, np.int16), "rgb": np.zeros((t, h, w, 3), np.uint8),
                "occluder": np.zeros((t, h, w), bool)}


@pytest.fixture
def fake_shards(monkeypatch):
    monkeypatch.setattr(data, "open_reader", lambda root: Reader())


def config(tmp_path, **kw) -> TrainConfig:
    base = dict(shards="train", out=str(tmp_path / "run"), preset="tiny", model=SMALL, steps=4,
                batch=2, workers=0, seed=5)
    return TrainConfig(**{**base, **kw}).resolved()


def test_the_loss_matches_with_the_dice_weight_of_the_runs_loss_settings(fake_shards, tmp_path):
    tiny = Trainer(config(tmp_path), DistInfo(), CPU)
    paper = Trainer(config(tmp_path, loss={"dice_weight": 0.0}), DistInfo(), CPU)
    assert tiny.loss_fn.matcher == HungarianMatcher(dice=tiny.loss_fn.cfg.dice_weight)
    assert tiny.loss_fn.cfg.dice_weight == 1.0
    assert paper.loss_fn.matcher == HungarianMatcher(dice=0.0)


def test_a_step_moves_the_weights_the_schedule_and_the_data_position(fake_shards, tmp_path):
    trainer = Trainer(config(tmp_path), DistInfo(), CPU)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    terms = trainer.train_step(next(trainer.batches()))
    assert {"amodal", "boundary", "order", "dice", "total", "lr"} <= set(terms)
    assert trainer.step == 1 and trainer.sampler.position == 2
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters(),
                                                     strict=True))


def test_a_visible_order_head_trains_on_the_visibility_term(fake_shards, tmp_path):
    trainer = Trainer(config(tmp_path, model={**SMALL, "order_head": "visible"}), DistInfo(), CPU)
    before = trainer.model.visible_head.weight.detach().clone()
    terms = trainer.train_step(next(trainer.batches()))
    assert terms["visible"] > 0
    assert not torch.equal(before, trainer.model.visible_head.weight)


def test_an_objectness_head_trains_on_its_term_and_the_rest_as_without_it(fake_shards,
                                                                           tmp_path):
    plain = Trainer(config(tmp_path), DistInfo(), CPU)
    trainer = Trainer(config(tmp_path, model={**SMALL, "objectness": True}), DistInfo(), CPU)
    before = trainer.model.objectness_head.mlp[0].weight.detach().clone()
    batch = next(trainer.batches())
    terms, plain_terms = trainer.train_step(batch), plain.train_step(batch)
    assert terms["objectness"] > 0 and "objectness" not in plain_terms
    assert not torch.equal(before, trainer.model.objectness_head.mlp[0].weight)
    assert math.isclose(terms["total"] - terms["objectness"], plain_terms["total"], rel_tol=1e-5)
    ours = dict(trainer.model.named_parameters())
    for name, p in plain.model.named_parameters():  # the head's inputs are detached
        torch.testing.assert_close(ours[name], p)


def test_a_saved_state_holds_what_a_checkpoint_documents(fake_shards, tmp_path):
    trainer = Trainer(config(tmp_path), DistInfo(), CPU)
    trainer.save("last.pt")
    state = read_checkpoint(tmp_path / "run" / "last.pt")
    assert {"format", "model", "model_config", "optimizer", "scheduler", "step", "rng", "sampler",
            "train_config"} <= set(state)
    assert state["train_config"] == trainer.cfg.to_dict()


def test_a_resumed_trainer_takes_the_next_step_exactly_as_the_unbroken_one(fake_shards, tmp_path):
    cfg = config(tmp_path)
    first = build_trainer(cfg, DistInfo(), CPU)
    batches = first.batches()
    for _ in range(2):
        first.train_step(next(batches))
    first.save("last.pt")
    resumed = build_trainer(dataclasses.replace(cfg, resume=True), DistInfo(), CPU)
    assert (resumed.step, resumed.sampler.position) == (2, first.sampler.position)
    assert resumed.train_step(next(resumed.batches())) == first.train_step(next(batches))
    for a, b in zip(first.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_without_resume_a_trainer_starts_fresh_beside_an_old_checkpoint(fake_shards, tmp_path):
    cfg = config(tmp_path)
    old = build_trainer(cfg, DistInfo(), CPU)
    old.train_step(next(old.batches()))
    old.save("last.pt")
    assert build_trainer(cfg, DistInfo(), CPU).step == 0
