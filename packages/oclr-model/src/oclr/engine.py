"""Training: one optimiser step, the loop, periodic validation (the run settings: oclr.config).

A run lives in one folder RUN: `config.json` (every setting, the model config and the schedule),
`metrics.jsonl` (one JSON object per logged step or validation), `last.pt` (rewritten every
`ckpt_every` steps and at the end) and `step-N.pt` (kept every `keep_every` steps); TensorBoard
event files too when the `tensorboard` package is importable. `train(cfg)` continues from
`RUN/last.pt` when `cfg.resume` is set, exactly where it stopped: the data stream position, the
optimiser, the schedule and the random states all come back, so the next steps equal those of an
unbroken run.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch

from oclr import distributed as D
from oclr.checkpoint import read_checkpoint, rng_state, save_checkpoint, set_rng_state
from oclr.config import ModelConfig, TrainConfig
from oclr.data import ClipShape, ShardClips, StreamSampler, build_loader, eval_loader
from oclr.eval_shards import score_loader
from oclr.losses import OCLRLoss
from oclr.matching import HungarianMatcher
from oclr.model import OCLR
from oclr.runlog import RunLog
from oclr.schedule import Schedule, build_scheduler


class Trainer:
    """Everything one rank needs to train; built from a resolved TrainConfig."""

    def __init__(self, cfg: TrainConfig, info: D.DistInfo, device: torch.device):
        self.cfg, self.info, self.device = cfg, info, device
        torch.manual_seed(cfg.seed)
        self.model_cfg = ModelConfig.preset(cfg.preset, **cfg.model)
        self.model = OCLR(self.model_cfg).to(device)
        self.net = D.wrap(self.model, info, device)
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

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One optimiser step on a batch of ShardClips items; returns the loss terms and lr."""
        flow = batch["flow"].to(self.device, non_blocking=True)  # (B, T, 4, H, W)
        target = batch["amodal"].to(self.device, non_blocking=True)  # (B, T, K, H, W)
        valid, rank = batch["valid"].to(self.device), batch["order"].to(self.device)
        lr = self.optimizer.param_groups[0]["lr"]
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            logits, order = self.net(flow)
        total, terms = self.loss_fn(logits, order, target, valid=valid, gt_rank=rank)
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


def prepare(cfg: TrainConfig, info: D.DistInfo, device: torch.device) -> Trainer:
    """A Trainer for `cfg`, restored from RUN/last.pt when cfg.resume is set."""
    trainer = Trainer(cfg, info, device)
    if cfg.resume:
        trainer.load_state_dict(read_checkpoint(Path(cfg.out) / "last.pt", map_location=device))
    return trainer


def train(cfg: TrainConfig) -> dict:
    """Run (or resume) the training `cfg` describes; returns a summary dict (rank 0's view).

    Under torchrun every rank calls this; rank 0 writes the logs and checkpoints."""
    cfg = cfg.resolved()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    info, device = D.setup(cfg.device)
    try:
        trainer = prepare(cfg, info, device)
        log = RunLog(cfg.out, enabled=info.is_main, resume_step=trainer.step)
        if info.is_main:
            write_config(cfg, trainer, info)
        return run_loop(trainer, log)
    finally:
        D.cleanup()


def write_config(cfg: TrainConfig, trainer: Trainer, info: D.DistInfo) -> None:
    from oclr import __version__

    config = {"train": cfg.to_dict(), "model": trainer.model_cfg.to_dict(),
              "schedule": trainer.schedule.to_dict(), "world_size": info.world,
              "global_batch": cfg.batch * info.world, "train_clips": len(trainer.dataset),
              "oclr_version": __version__, "torch_version": torch.__version__}
    path = Path(cfg.out) / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n")


def run_loop(trainer: Trainer, log: RunLog) -> dict:
    """Steps from trainer.step to cfg.steps (or until the time budget is spent)."""
    cfg, start = trainer.cfg, time.monotonic()
    loader = iter(build_loader(trainer.dataset, trainer.sampler, workers=cfg.workers,
                               pin_memory=trainer.device.type == "cuda"))
    trainer.model.train()
    last_loss, stopped_early = math.nan, False
    for _ in log.progress(range(trainer.step, cfg.steps), start=trainer.step, total=cfg.steps):
        terms = trainer.train_step(next(loader))
        last_loss = terms["total"]
        after_step(trainer, log, terms)
        over = cfg.max_seconds is not None and time.monotonic() - start > cfg.max_seconds
        if D.any_rank(over, trainer.info, trainer.device):  # all ranks stop at the same step
            stopped_early = True
            break
    finish(trainer, log)
    val = trainer.last_val and {k: v for k, v in trainer.last_val.items() if k != "sequences"}
    return {"step": trainer.step, "loss": last_loss, "seconds": time.monotonic() - start,
            "stopped_early": stopped_early, "out": cfg.out, "rank": trainer.info.rank,
            "val": val}


def after_step(trainer: Trainer, log: RunLog, terms: dict[str, float]) -> None:
    """Logging, validation and checkpoints due after the step just done."""
    cfg, step = trainer.cfg, trainer.step
    if step % cfg.log_every == 0 or step == 1:
        loss = D.all_mean(terms["total"], trainer.info, trainer.device)
        log.write(step, {**{f"train/{k}": v for k, v in terms.items()}, "train/loss": loss})
    if cfg.val_shards and step % cfg.val_every == 0:
        validate_and_log(trainer, log)
    if step % cfg.ckpt_every == 0:
        save(trainer, "last.pt")
    if step % cfg.keep_every == 0:
        save(trainer, f"step-{step}.pt")


def validate_and_log(trainer: Trainer, log: RunLog) -> None:
    """Rank 0 validates; the others wait at a barrier (so no rank runs ahead into the next
    all-reduce while rank 0 is busy for long)."""
    if trainer.info.is_main:
        result = trainer.last_val = trainer.validate()
        log.write(trainer.step, {f"val/{k}": result[k] for k in
                                 ("modal_j", "amodal_j", "order_acc")})
    D.barrier(trainer.info)


def save(trainer: Trainer, name: str) -> None:
    if trainer.info.is_main:
        save_checkpoint(trainer.state_dict(), Path(trainer.cfg.out) / name)


def finish(trainer: Trainer, log: RunLog) -> None:
    """Final checkpoint (and validation if the last step had none); a weight-sync check across
    ranks, logged as `ranks_in_sync`."""
    cfg, step = trainer.cfg, trainer.step
    if cfg.val_shards and step % cfg.val_every != 0:
        validate_and_log(trainer, log)
    if step % cfg.ckpt_every != 0:
        save(trainer, "last.pt")
    digests = D.gather_digests(trainer.model, trainer.info)
    if trainer.info.active:
        log.write(step, {"ranks_in_sync": all(d == digests[0] for d in digests),
                         "rank_digests": digests})
    log.close()
