"""Checkpoints in the reference code's format, made in tests from its published key list.

`reference_checkpoint_keys.tsv` beside this file lists the 129 tensors of the reference code's
released checkpoint (name, shape, dtype; a copy of ../shared/reference-checkpoint-keys.tsv). The
tensors here are fabricated: seeded random values of those shapes, no trained weights.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

import torch

KEYS = Path(__file__).with_name("reference_checkpoint_keys.tsv")


def reference_keys() -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) of every tensor of the reference checkpoint, in the file's order."""
    rows = [line.split("\t") for line in KEYS.read_text().splitlines() if line.strip()]
    return [(name, tuple(ast.literal_eval(shape))) for name, shape, _dtype in rows]


def fabricated_state(seed: int,
                     keys: list[tuple[str, tuple[int, ...]]] | None = None) -> dict:
    """A `model_state_dict` of random float32 tensors: weights ~ N(0, 1 / fan_in) so activations
    keep their scale through the network, norm weights near 1, biases near 0."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for name, shape in keys or reference_keys():
        noise = torch.randn(shape, generator=gen)
        if ".norm" in name and name.endswith(".weight"):
            state[name] = 1.0 + 0.1 * noise
        elif name.endswith("bias"):
            state[name] = 0.1 * noise
        else:
            fan_in = math.prod(shape[1:]) if len(shape) > 1 else shape[0]
            state[name] = noise / math.sqrt(fan_in)
    return state


def write_reference_checkpoint(path: Path, state: dict) -> Path:
    """`path` holding `state` as the reference code saves it: iteration, model_state_dict,
    optimizer_state_dict, loss."""
    torch.save({"iteration": 1000, "model_state_dict": state, "optimizer_state_dict": {},
                "loss": 0.25}, path)
    return path
