"""A trained model on real video: what `oclr-infer` and the benchmark runners both need.

`FlowSettings` says how flow is estimated and where it is cached (`oclr.flowcache` does the work),
`load_model_or_input_error` opens the user's checkpoint and `check_windows` checks the window
settings against the model's T. Each raises `layersynth.errors.InputError` with a message naming
the option or file at fault, which a command line reports as one line (exit status 2).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from layersynth.errors import InputError

from oclr.checkpoint import load_model, torch_file_problem
from oclr.config import ModelConfig
from oclr.distributed import check_device
from oclr.flowcache import FlowSpec, default_cache_dir
from oclr.readout import with_reading

FLOW_METHODS = ("dis", "raft")

# progress(items, total, description) wraps a loop to show how far it got (e.g.
# `layersynth.report.progress`); None shows nothing.
Progress = Callable[[Iterable, int, str], Iterable]


@dataclass(frozen=True)
class FlowSettings:
    """How the flow of a real video is made and kept.

    method: "dis" (OpenCV) or "raft" (ptlflow; `raft_weights` a local checkpoint file);
    flow_width: estimate on frames shrunk to this width in px (None: at the frames' resolution);
    cache: the folder estimated flow is kept in (None: `oclr.flowcache.default_cache_dir()`);
    use_cache False: estimate every time, store nothing."""

    method: str = "dis"
    raft_weights: str | None = None
    flow_width: int | None = None
    cache: str | None = None
    use_cache: bool = True

    def __post_init__(self) -> None:
        if self.method not in FLOW_METHODS:
            raise ValueError(f"flow method must be one of {FLOW_METHODS}, got {self.method!r}")

    def spec(self, model_cfg: ModelConfig, device: str) -> FlowSpec:
        """The FlowSpec giving flow at the input size of a model of config `model_cfg`."""
        if self.raft_weights and not Path(self.raft_weights).is_file():
            raise InputError(f"--raft-weights {self.raft_weights}: no such file")
        problem = self.raft_weights and torch_file_problem(self.raft_weights)
        if problem:  # said here in words; torch would give its internal error
            raise InputError(f"--raft-weights {self.raft_weights}: {problem}")
        try:  # FlowSpec checks the values; only the flow width can be out of range here
            return FlowSpec(method=self.method, height=model_cfg.height, width=model_cfg.width,
                            raft_weights=self.raft_weights, device=device,
                            flow_width=self.flow_width)
        except ValueError as err:
            raise InputError(f"--flow-width {self.flow_width}: {err}") from None

    def cache_dir(self) -> Path | None:
        """Where `oclr.flowcache.flow_input_for` keeps flow; None when nothing is stored."""
        if not self.use_cache:
            return None
        if self.cache and Path(self.cache).exists() and not Path(self.cache).is_dir():
            raise InputError(f"--flow-cache {self.cache}: a file, not a folder")
        return Path(self.cache) if self.cache else default_cache_dir()


def read_as_asked(model: torch.nn.Module, cfg) -> torch.nn.Module:
    """`oclr.readout.with_reading` with the order_readout and spares overrides of `cfg` (a
    SegmentConfig or BenchmarkConfig); --spares for a network without an objectness head is an
    InputError naming the checkpoint."""
    try:
        return with_reading(model, cfg.order_readout, cfg.spares)
    except ValueError as err:
        raise InputError(f"--spares {cfg.spares}: {cfg.checkpoint}: {err}") from None


def load_model_or_input_error(path: str | os.PathLike, device: str) -> torch.nn.Module:
    """`oclr.checkpoint.load_model` on `device`: a device this machine lacks or cannot hold the
    model is an InputError naming --device, a file that is not a usable checkpoint one naming
    the file (`oclr.checkpoint.CheckpointError`)."""
    dev = check_device(device)
    model = load_model(path, "cpu")
    try:
        return model.to(dev)
    except RuntimeError as err:  # e.g. out of memory on that GPU
        raise InputError(f"--device {device}: cannot hold the model: "
                         f"{' '.join(str(err).split())[:200]}") from None


def check_windows(model: torch.nn.Module, batch: int, overlap: int | None) -> None:
    """`batch` windows per forward and `overlap` shared frames against the model's T."""
    frames = model.cfg.frames
    if batch < 1 or (overlap is not None and not 0 <= overlap < frames):
        raise InputError(f"--batch must be >= 1 and --overlap in [0, {frames}) for this model")


def stage(progress: Progress | None, description: str):
    """`progress` as the two-argument wrapper `oclr.infer` takes, or None."""
    if progress is None:
        return None
    return lambda items, total: progress(items, total, description)
