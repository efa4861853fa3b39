"""The state of a training run on one rank, built from a TrainConfig, and one optimiser step of it.

`build_trainer(cfg, info, device)` makes the model (wrapped for DDP when distributed), the Adam
optimiser and its warm-up/halving schedule, the loss with its matcher, the training clips and the
stream sampler that orders them, and restores all of it from RUN/last.pt when cfg.resume is set.
`Trainer.state_dict()` is exactly what a checkpoint holds (`oclr.checkpoint`); the loop that drives
the steps, logs and saves is `oclr.engine`. A fresh run with cfg.init starts from that checkpoint's
weights (ours or the reference code's) and nothing else of it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import torch

from oclr import distributed as D
from oclr.checkpoint import (
    CheckpointError,
    load_weights,
    read_checkpoint,
    read_weights,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from oclr.config import ModelConfig, TrainConfig
from oclr.data import (
    ClipShape,
    ShardClips,
    StreamSampler,
    build_loader,
    eval_loader,
    loader_batches,
)
from oclr.eval_shards import score_loader
from oclr.losses import OCLRLoss
from oclr.matching import HungarianMatcher
from oclr.model import OCLR
from oclr.reference_weights import first_misfit
from oclr.schedule import Schedule, build_scheduler


class Trainer:
    """Everything one rank needs to train; built from a resolved TrainConfig."""

    def __init__(self, cfg: TrainConfig, info: D.DistInfo, device: torch.device):
        self.cfg, self.info, self.device = cfg, info, device
        torch.manual_seed(cfg.seed)
        self.model_cfg = ModelConfig.preset(cfg.preset, **cfg.model)
        self.model = OCLR(self.model_cfg).to(device)
        self.net = D.wrap(self.model, info, device)
        self.visible = self.model_cfg.order_head == "visible"  # the loss needs its third output
        self.objectness = self.model_cfg.objectness  # the loss trains the objectness head
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.schedule = Schedule(cfg.warmup, cfg.halve_every)
        self.scheduler = build_scheduler(self.optimizer, self.schedule)
        loss_cfg = cfg.loss_config()
        # The matching cost weighs in the Dice term exactly when the loss has one.
        self.loss_fn = OCLRLoss(loss_cfg, matcher=HungarianMatcher(dice=loss_cfg.dice_weight))
        self.dataset = ShardClips(cfg.shards, ClipShape.of_model(self.model_cfg), flow=cfg.flow)
        self.sampler = StreamSampler(len(self.dataset), seed=cfg.seed, batch=cfg.batch,
                                     rank=info.rank, world=info.world)
        self.step = 0
        self.amp = device.type == "cuda" if cfg.bf16 is None else cfg.bf16
        self.last_val: dict | None = None

    def state_dict(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "model_config": self.model_cfg.to_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "step": self.step,
            "rng": rng_state(),
            "sampler": self.sampler.state_dict(),
            "train_config": self.cfg.to_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.sampler.load_state_dict(state["sampler"])
        self.step = int(state["step"])
        set_rng_state(state["rng"])

    def save(self, name: str) -> None:
        """RUN/<name> from rank 0 (the other ranks hold the same weights)."""
        if self.info.is_main:
            save_checkpoint(self.state_dict(), Path(self.cfg.out) / name)

    def batches(self) -> Iterator[dict[str, torch.Tensor]]:
        """This rank's training batches, from where the sampler stands (endless)."""
        loader = build_loader(self.dataset, self.sampler, workers=self.cfg.workers,
                              pin_memory=self.device.type == "cuda")
        return loader_batches(loader)

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One optimiser step on a batch of ShardClips items; returns the loss terms and lr."""
        flow = batch["flow"].to(self.device, non_blocking=True)  # (B, T, 4, H, W)
        target = batch["amodal"].to(self.device, non_blocking=True)  # (B, T, K, H, W)
        valid, rank = batch["valid"].to(self.device), batch["order"].to(self.device)
        frame_rank = batch["frame_order"].to(self.device)  # (B, T, K)
        lr = self.optimizer.param_groups[0]["lr"]
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            outputs = self.net(flow, visible=self.visible, objectness=self.objectness)
        logits, order = outputs[:2]
        total, terms = self.loss_fn(logits, order, target, valid=valid, gt_rank=rank,
                                    frame_rank=frame_rank,
                                    visible=outputs[2] if self.visible else None,
                                    progress=self.step / max(self.cfg.steps, 1),
                                    objectness=outputs[-1] if self.objectness else None)
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_value_(self.model.parameters(), self.cfg.clip_value)
        self.optimizer.step()
        self.scheduler.step()
        self.sampler.advance()
        self.step += 1
        return {**terms, "lr": lr}

    def validate(self) -> dict:
        """Modal and amodal J (and order accuracy) of the current weights on cfg.val_shards."""
        data = ShardClips(self.cfg.val_shards, ClipShape.of_model(self.model_cfg),
                          flow=self.cfg.flow)
        loader = eval_loader(data, batch=self.cfg.batch, limit=self.cfg.val_limit)
        return score_loader(self.model, loader, data.clip_ids, self.device, amp=self.amp)


def build_trainer(cfg: TrainConfig, info: D.DistInfo, device: torch.device) -> Trainer:
    """A Trainer for the resolved `cfg`, restored from RUN/last.pt when cfg.resume is set, else
    starting from the weights of cfg.init when that is set."""
    trainer = Trainer(cfg, info, device)
    if cfg.resume:
        resume(trainer, Path(cfg.out) / "last.pt")
    elif cfg.init:
        _, weights, _ = read_weights(cfg.init, map_location=device)
        load_weights(trainer.model, with_fresh_heads(weights, trainer.model.state_dict()),
                     cfg.init)
    return trainer


# Weights a checkpoint given to --init may lack, which the run then starts from its own fresh
# initial values: the objectness head (`oclr.objectness`) trains on detached inputs, so any
# network, the reference code's included, can be fine-tuned with one added.
FRESH_PREFIXES = ("objectness_head.",)


def with_fresh_heads(weights: dict, fresh: dict) -> dict:
    """`weights` plus the entries of `fresh` (the new network's state dict) under FRESH_PREFIXES
    that `weights` lacks."""
    missing = {k: v for k, v in fresh.items() if k.startswith(FRESH_PREFIXES) and k not in weights}
    return {**weights, **missing}


def init_model_fields(path: str | os.PathLike, preset: str,
                      model: dict | None = None) -> tuple[dict, str]:
    """(ModelConfig fields that turn `preset` into the network stored at `path`, with `model`'s
    fields applied over them; the checkpoint's format, "oclr" or "reference"): what
    TrainConfig.model holds for a run started with --init. CheckpointError naming the file when it
    is no checkpoint, or when `model` changes the shape of one of its weights."""
    stored, weights, kind = read_weights(path)
    base = ModelConfig.preset(preset)
    fields = {f.name: getattr(stored, f.name) for f in dataclasses.fields(ModelConfig)
              if getattr(stored, f.name) != getattr(base, f.name)}
    if "cnn_channels" in fields:
        fields["cnn_channels"] = list(fields["cnn_channels"])
    fields.update(model or {})
    try:
        with torch.device("meta"):
            network = OCLR(ModelConfig.preset(preset, **fields))
    except (TypeError, ValueError):
        return fields, kind  # a bad --model field: the run's own checks name it
    state = network.state_dict()
    expected = {name: tuple(t.shape) for name, t in state.items()}
    problem = first_misfit(expected, with_fresh_heads(weights, state))
    if problem:
        raise CheckpointError(f"{path}: its weights do not fit the network --model asks for: "
                              f"{problem}")
    return fields, kind


TRAINING_STATE = ("model", "optimizer", "scheduler", "step", "rng", "sampler")


def resume(trainer: Trainer, path: Path) -> None:
    """Restore `trainer` from the checkpoint at `path`; CheckpointError naming the file when it
    lacks a part of the training state or a part does not fit this run."""
    state = read_checkpoint(path, map_location=trainer.device)
    missing = [name for name in TRAINING_STATE if name not in state]
    if missing:
        raise CheckpointError(f"{path}: cannot resume from it: no {', '.join(missing)} (a "
                              "checkpoint of weights only, not of a training run)")
    try:
        trainer.load_state_dict(state)
    except (KeyError, ValueError, RuntimeError, TypeError, AttributeError, IndexError) as err:
        detail = " ".join(str(err).split())[:300]
        raise CheckpointError(f"{path}: cannot resume from it: {type(err).__name__}: "
                              f"{detail}") from None
