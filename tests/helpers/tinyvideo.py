"""A random-weight oclr checkpoint and a folder of random frames: the inputs of real-video
inference (`oclr.segment_video`, `oclr-infer`) without training or a generated dataset.

On the test path through pytest's `pythonpath` setting: `from tinyvideo import random_checkpoint`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import oclr
import torch
from oclr.checkpoint import save_checkpoint
from PIL import Image

# The tiny preset shrunk until a forward pass takes milliseconds: T = 4 frames of 32 x 48.
SMALL = {"frames": 4, "height": 32, "width": 48, "cnn_channels": [8, 16, 32], "d_model": 32,
         "heads": 2, "ffn_dim": 32}


def random_checkpoint(path: Path, *, seed: int, **model) -> Path:
    """An untrained network (the tiny preset with SMALL, then `model`, overrides), saved as
    oclr-train saves one: a file `oclr.checkpoint.load_model` reads."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = oclr.build_model("tiny", **{**SMALL, **model})
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint({"model": net.state_dict(), "model_config": net.cfg.to_dict()}, path)
    return path


def random_frames(folder: Path, n: int, *, rng: np.random.Generator,
                  size: tuple[int, int] = (40, 64)) -> list[str]:
    """n frames of (H, W) = `size` written as `folder`/00000.png, ...: a textured square moving
    right over a still textured background. Returns the frame names (file stems), in order."""
    h, w = size
    background = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    square = rng.integers(0, 256, (h // 3, h // 3, 3), dtype=np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for t in range(n):
        frame = background.copy()
        x = (2 * t) % (w - len(square))
        frame[4:4 + len(square), x:x + len(square)] = square
        names.append(f"{t:05d}")
        Image.fromarray(frame).save(folder / f"{names[-1]}.png")
    return names
