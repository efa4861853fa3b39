"""RAFT (Teed & Deng 2020) through ptlflow, from local weights only; torch loads on first use.

Conventions of ptlflow's models, converted here and nowhere else:
- input  `model({"images": x})`, x (B, 2, 3, H, W) float32 in [0, 1], channels in BGR order,
  x[:, 0] the source frame and x[:, 1] the destination; padding to a multiple of 8 is internal.
- output `["flows"]` (B, 1, 2, H, W), channel 0 = u (along W), 1 = v (along H), in pixels, from the
  source to the destination frame.

Weights: `--raft-weights PATH` (a ptlflow checkpoint, a dict with "state_dict", or a bare state
dict such as the original RAFT release's `raft-things.pth`), else ptlflow's "things" checkpoint
already in the torch cache (`$TORCH_HOME/hub/checkpoints/raft-things-802bbcfd.ckpt`). Nothing is
ever downloaded: ptlflow takes a path that does not exist for a checkpoint name and fetches it, so
this module resolves and loads the file itself.

Small frames: RAFT works on 1/8 resolution features and degrades when a side is under 128 px, so
frames with a side under `min_side` are upsampled by the smallest integer factor that lifts both
sides to at least `min_side`; the flow is then resized back (area-averaged) and u, v divided by
the factor. An integer factor keeps pixel centres aligned, so the rescaling is exact.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from layersynth.errors import UsageError
from layersynth.estimators.base import DEVICES, FlowEstimator, parse_device
from layersynth.report import warn

# File name of ptlflow's RAFT "things" release (RAFT.pretrained_checkpoints["things"]); the paper's
# flow used these weights with 20 refinement iterations (REFERENCE.md section 2).
THINGS_CHECKPOINT = "raft-things-802bbcfd.ckpt"
PAPER_ITERS = 20
PRECISIONS = ("auto", "bf16", "fp16", "fp32")
_HOW_TO = (
    "pass --raft-weights PATH (a ptlflow RAFT checkpoint, e.g. raft-things-802bbcfd.ckpt, or the "
    f"original raft-things.pth) or put {THINGS_CHECKPOINT} in {{cache}}; nothing is downloaded"
)


@dataclass(frozen=True)
class RaftConfig:
    """weights: checkpoint path (None: the torch cache); device "cpu" | "cuda" | "cuda:N";
    batch: pairs per forward pass; iters: refinement iterations; precision: autocast dtype on
    CUDA ("auto" = fp16, see `autocast_dtype`; the CPU always runs fp32); min_side: see module.
    """

    weights: str | None = None
    device: str = "cpu"
    batch: int = 8
    iters: int = PAPER_ITERS
    precision: str = "auto"
    min_side: int = 128

    def __post_init__(self) -> None:
        try:
            parse_device(self.device)
        except ValueError:
            raise UsageError(f"unknown device {self.device!r}; use {DEVICES}") from None
        if self.batch < 1 or self.iters < 1 or self.min_side < 8:
            raise UsageError(
                "RAFT needs batch >= 1, iters >= 1 and min_side >= 8 (got batch="
                f"{self.batch}, iters={self.iters}, min_side={self.min_side})"
            )
        if self.precision not in PRECISIONS:
            raise UsageError(f"unknown precision {self.precision!r}; choose from {PRECISIONS}")


def torch_cache_dir() -> Path:
    """Where torch keeps hub checkpoints, by torch's own rule, without importing torch."""
    home = os.environ.get("TORCH_HOME")
    if not home:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        home = os.path.join(xdg, "torch")
    return Path(home) / "hub" / "checkpoints"


def resolve_weights(weights: str | None) -> Path:
    """The checkpoint file to load; UsageError saying how to provide one if there is none."""
    cache = torch_cache_dir()
    if weights is None:
        path = cache / THINGS_CHECKPOINT
        if path.is_file():
            return path
        raise UsageError("no RAFT weights: " + _HOW_TO.format(cache=cache))
    path = Path(weights).expanduser()
    if not path.is_file():
        raise UsageError(f"{weights}: RAFT weights not found; " + _HOW_TO.format(cache=cache))
    return path


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """ptlflow prints to stdout on import (CLIs print JSON last there) and warns about its own
    dependencies' deprecations: send the prints to stderr and drop those warnings."""
    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def import_ptlflow() -> Any:
    """Import ptlflow quietly (see `_quiet`)."""
    with _quiet():
        import ptlflow  # loads torch: only when RAFT is asked for
    return ptlflow


def load_state_dict(path: Path) -> dict:
    """The model weights in a checkpoint file (ptlflow's {"state_dict": ...} or a bare dict)."""
    import torch  # only when RAFT is asked for (`import layersynth` stays light)

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a file that is not a checkpoint
        raise UsageError(f"{path}: not a readable torch checkpoint ({err})") from None
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise UsageError(f"{path}: expected a dict of weights or a dict with 'state_dict'")
    # Checkpoints saved from DataParallel (the original RAFT release) prefix every key.
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_raft(cfg: RaftConfig) -> Any:
    """ptlflow's RAFT with the weights of `cfg`, `cfg.iters` iterations, in eval mode, on
    `cfg.device`; UsageError for missing or foreign weights or an unavailable device."""
    path = resolve_weights(cfg.weights)
    check_device(cfg.device)
    ptlflow = import_ptlflow()
    with _quiet():
        model = ptlflow.get_model("raft")
    try:
        model.load_state_dict(load_state_dict(path))
    except RuntimeError as err:  # missing / unexpected keys or shapes: say which, briefly
        detail = " ".join(str(err).split())
        raise UsageError(f"{path}: not RAFT weights ({detail[:200]})") from None
    model.iters = cfg.iters
    if cfg.device.startswith("cuda"):
        import torch  # only when RAFT is asked for (`import layersynth` stays light)

        # Every batch of a dataset has one size: let cuDNN pick its fastest kernels once.
        torch.backends.cudnn.benchmark = True
    return model.eval().to(cfg.device)


def check_device(device: str) -> None:
    """UsageError unless `device` ("cpu", "cuda", "cuda:N") exists on this machine."""
    import torch  # only when RAFT is asked for (`import layersynth` stays light)

    if not device.startswith("cuda"):
        return
    if not torch.cuda.is_available():
        raise UsageError(f"--device {device}: CUDA is not available (torch {torch.__version__})")
    index = int(device.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise UsageError(f"--device {device}: only {torch.cuda.device_count()} GPU(s) here")


def autocast_dtype(device_type: str, precision: str) -> str | None:
    """Autocast dtype name for a device type, or None for plain fp32.

    The CPU always runs fp32 (CPU autocast is slower than fp32 on most CPUs). On CUDA, "auto" is
    fp16, as the original RAFT's mixed precision: RAFT's activations and its correlation volume
    (dot products of normalised 256-d features / 16) stay far below fp16's limit, and fp16 keeps
    3 more mantissa bits than bf16 (on random-weight RAFT under CPU autocast, fp16 differed from
    fp32 by 0.0004 px on average, bf16 by 0.0046 px). A batch that still overflows is redone in
    fp32 (see `RaftEstimator`). H100s run both at the same speed.
    """
    if device_type != "cuda" or precision == "fp32":
        return None
    return {"auto": "float16", "fp16": "float16", "bf16": "bfloat16"}[precision]


def upsample_factor(h: int, w: int, min_side: int) -> int:
    """Smallest integer k with k * min(h, w) >= min_side (1 when the frame is large enough)."""
    return max(1, math.ceil(min_side / min(h, w)))


class RaftEstimator(FlowEstimator):
    """RAFT on frame pairs; `model` is anything with ptlflow's call convention (see module)."""

    name = "raft"

    def __init__(self, model: Any, cfg: RaftConfig) -> None:
        self.model = model
        self.cfg = cfg

    def estimate_pairs(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        out = np.empty((*src.shape[:3], 2), np.float32)
        for a in range(0, len(src), self.cfg.batch):
            b = a + self.cfg.batch
            out[a:b] = self._run_batch(src[a:b], dst[a:b])
        return out

    def _run_batch(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        import torch  # only when RAFT is asked for (`import layersynth` stays light)

        x = to_model_input(src, dst, self.cfg.device)  # (B, 2, 3, H, W)
        with torch.inference_mode():
            flow = self._forward(x, self.autocast)
            if self.autocast and not bool(torch.isfinite(flow).all()):
                warn(f"RAFT overflowed under {self.autocast} autocast; batch redone in fp32")
                flow = self._forward(x, None)
        return from_model_output(flow)

    def _forward(self, x: Any, autocast: str | None) -> Any:
        """x (B, 2, 3, H, W) -> flow (B, 2, H, W) float32, upsampling small frames (see module)."""
        import torch  # only when RAFT is asked for (`import layersynth` stays light)

        k = upsample_factor(*x.shape[-2:], self.cfg.min_side)
        device_type = torch.device(self.cfg.device).type
        dtype = getattr(torch, autocast) if autocast else None
        with torch.autocast(device_type, dtype=dtype, enabled=autocast is not None):
            if k > 1:
                x = torch.nn.functional.interpolate(
                    x.flatten(0, 1), scale_factor=k, mode="bilinear", align_corners=False
                ).unflatten(0, x.shape[:2])
            flow = self.model({"images": x})["flows"][:, 0].float()  # (B, 2, kH, kW)
        if k > 1:
            flow = torch.nn.functional.avg_pool2d(flow, k) / k
        return flow

    @property
    def autocast(self) -> str | None:
        """The autocast dtype this estimator runs under ("float16", "bfloat16"), None for fp32."""
        import torch  # only when RAFT is asked for (`import layersynth` stays light)

        return autocast_dtype(torch.device(self.cfg.device).type, self.cfg.precision)


def to_model_input(src: np.ndarray, dst: np.ndarray, device: str) -> Any:
    """RGB uint8 pairs (B, H, W, 3) x 2 -> ptlflow input (B, 2, 3, H, W) float32 BGR in [0, 1]."""
    import torch  # only when RAFT is asked for (`import layersynth` stays light)

    pairs = np.stack([src, dst], axis=1)[..., ::-1]  # (B, 2, H, W, 3), RGB -> BGR
    x = torch.from_numpy(np.ascontiguousarray(pairs)).to(device)
    return x.permute(0, 1, 4, 2, 3).contiguous().float().div_(255.0)


def from_model_output(flow: Any) -> np.ndarray:
    """ptlflow flow (B, 2, H, W) tensor, channels (u, v) -> (B, H, W, 2) float32 numpy."""
    return flow.permute(0, 2, 3, 1).cpu().numpy().astype(np.float32, copy=False)
