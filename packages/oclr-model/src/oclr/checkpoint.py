"""Training checkpoints: written atomically, read back into a model or a whole training state.

A checkpoint is a dict saved with `torch.save`:

- "format": CHECKPOINT_FORMAT (an int, bumped when the layout changes)
- "model": the network's state_dict (the bare network's, without DDP's "module." prefix)
- "model_config": `ModelConfig.to_dict()`, enough to rebuild the network alone
- "optimizer", "scheduler": their state_dicts
- "step": optimiser steps done
- "rng": random states (`rng_state()`): torch CPU, CUDA (when present), numpy, python
- "sampler": the data order's state (`oclr.data.StreamSampler.state_dict()`)
- "train_config": the training options (a plain dict)
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from oclr.config import ModelConfig
from oclr.model import OCLR

CHECKPOINT_FORMAT = 1


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write `state` to `path` atomically: a temporary file in the same folder, then os.replace.

    A run killed while saving leaves the previous checkpoint intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        torch.save({"format": CHECKPOINT_FORMAT, **state}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def read_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint dict; ValueError naming the file if it is not one of ours."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:  # torch raises several unrelated types for a damaged file
        raise ValueError(f"{path}: not a readable checkpoint ({err.__class__.__name__})") from err
    if not isinstance(state, dict) or "model" not in state or "model_config" not in state:
        raise ValueError(f"{path}: not an oclr checkpoint (no 'model'/'model_config')")
    return state


def model_from_state(state: dict, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Rebuild the network from a checkpoint dict and load its weights (eval mode)."""
    model = OCLR(ModelConfig.from_dict(state["model_config"]))
    model.load_state_dict(state["model"])
    return model.to(device).eval()


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> torch.nn.Module:
    """The trained network stored at `path`, on `device`, in eval mode."""
    return model_from_state(read_checkpoint(path), device)


def rng_state() -> dict[str, Any]:
    """Every random state a training step can touch (dropout, data order helpers)."""
    state = {
        "torch": torch.get_rng_state(),
        # legacy global states: nothing here draws from them, but user code and libraries may
        "numpy": np.random.get_state(),  # noqa: NPY002
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state()` captured (CUDA only when both sides have it)."""
    torch.set_rng_state(state["torch"].cpu())
    np.random.set_state(state["numpy"])  # noqa: NPY002
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
