"""The learning-rate schedule of the paper: linear warm-up, then the rate halves every N steps.

The reference run is 600k steps with a 40k-step warm-up and a halving every 80k steps (REFERENCE.md
section 4). A shorter run keeps the same shape: warm-up and halving period are scaled by
steps / 600k, so a 6k-step run warms up over 400 steps and halves every 800, and ends at the same
fraction (1/128) of the base rate as the paper's run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

PAPER_STEPS = 600_000
PAPER_WARMUP = 40_000
PAPER_HALVE_EVERY = 80_000


@dataclass(frozen=True)
class Schedule:
    """lr(step) = base * min(1, (step + 1) / warmup) * 0.5 ** (step // halve_every).

    `step` counts optimiser steps from 0; both periods are in steps and at least 1.
    """

    warmup: int
    halve_every: int

    def __post_init__(self) -> None:
        if self.warmup < 1 or self.halve_every < 1:
            raise ValueError(f"warmup and halve_every must be >= 1, got {self}")

    def factor(self, step: int) -> float:
        """Multiplier of the base learning rate at optimiser step `step` (0-based)."""
        warm = min(1.0, (step + 1) / self.warmup)
        return warm * 0.5 ** (step // self.halve_every)

    def __call__(self, step: int) -> float:
        return self.factor(step)

    def to_dict(self) -> dict:
        return asdict(self)


def paper_schedule(total_steps: int) -> Schedule:
    """The paper's schedule for a run of `total_steps`, scaled down when the run is shorter."""
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if total_steps >= PAPER_STEPS:
        return Schedule(PAPER_WARMUP, PAPER_HALVE_EVERY)
    scale = total_steps / PAPER_STEPS
    return Schedule(
        warmup=max(1, round(PAPER_WARMUP * scale)),
        halve_every=max(1, round(PAPER_HALVE_EVERY * scale)),
    )


def build_scheduler(
    optimizer: torch.optim.Optimizer, schedule: Schedule
) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR applying `schedule`; call `.step()` once after every optimiser step.

    Its state_dict holds the step count, so a resumed run continues the same curve.
    """
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
