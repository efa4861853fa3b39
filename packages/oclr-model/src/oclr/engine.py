"""Training: the loop, with its logging, validation and checkpoints (the run settings: oclr.config;
the model, optimiser, data and resume: oclr.trainer).

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

from oclr import __version__
from oclr import distributed as D
from oclr.config import TrainConfig
from oclr.runlog import RunLog
from oclr.trainer import Trainer, build_trainer


def train(cfg: TrainConfig) -> dict:
    """Run (or resume) the training `cfg` describes; returns a summary dict (rank 0's view).

    Under torchrun every rank calls this; rank 0 writes the logs and checkpoints."""
    cfg = cfg.resolved()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    info, device = D.setup(cfg.device)
    try:
        trainer = build_trainer(cfg, info, device)
        log = RunLog(cfg.out, enabled=info.is_main, resume_step=trainer.step)
        try:
            if info.is_main:
                write_config(cfg, trainer, info)
            return run_loop(trainer, log)
        finally:
            log.close()  # also after a failure: TensorBoard's writer thread stops with the run
    finally:
        D.cleanup()


def write_config(cfg: TrainConfig, trainer: Trainer, info: D.DistInfo) -> None:
    """RUN/config.json: every setting of the run, the model, the schedule and the versions."""
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
    batches = trainer.batches()
    trainer.model.train()
    last_loss, stopped_early = math.nan, False
    for _ in log.progress(range(trainer.step, cfg.steps), start=trainer.step, total=cfg.steps):
        terms = trainer.train_step(next(batches))
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
        trainer.save("last.pt")
    if step % cfg.keep_every == 0:
        trainer.save(f"step-{step}.pt")


def validate_and_log(trainer: Trainer, log: RunLog) -> None:
    """Rank 0 validates; the others wait at a barrier (so no rank runs ahead into the next
    all-reduce while rank 0 is busy for long)."""
    if trainer.info.is_main:
        result = trainer.last_val = trainer.validate()
        log.write(trainer.step, {f"val/{k}": result[k] for k in
                                 ("modal_j", "amodal_j", "order_acc", "frame_order_acc")})
    D.barrier(trainer.info)


def finish(trainer: Trainer, log: RunLog) -> None:
    """Final checkpoint (and validation if the last step had none); a weight-sync check across
    ranks, logged as `ranks_in_sync`."""
    cfg, step = trainer.cfg, trainer.step
    if cfg.val_shards and step % cfg.val_every != 0:
        validate_and_log(trainer, log)
    if step % cfg.ckpt_every != 0:
        trainer.save("last.pt")
    digests = D.gather_digests(trainer.model, trainer.info)
    if trainer.info.active:
        log.write(step, {"ranks_in_sync": all(d == digests[0] for d in digests),
                         "rank_digests": digests})
    log.close()
