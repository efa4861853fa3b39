"""Multi-process training under `torchrun`: process-group set-up, each rank's device, sync checks.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; without them the run is a single process and nothing
here touches torch.distributed. CUDA runs use NCCL, CPU runs gloo. Rank 0 alone writes logs and
checkpoints; every rank holds the same weights after each step (DistributedDataParallel averages
the gradients), which `weights_digest` lets a run verify.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from layersynth.errors import InputError


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the run: rank in [0, world), its local rank on the machine."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def from_env() -> DistInfo:
    """The rank layout torchrun announced in the environment (a single process without it)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    return DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def setup(device: str) -> tuple[DistInfo, torch.device]:
    """Join the process group torchrun prepared (if any); return the layout and this rank's device.

    `device` is the user's choice ("cpu", "cuda", "cuda:1"); under torchrun with CUDA each rank
    takes cuda:LOCAL_RANK.
    """
    info = from_env()
    dev = check_device(device)
    if dev.type == "cuda":
        index = info.local_rank if info.active else dev.index
        dev = torch.device("cuda", torch.cuda.current_device() if index is None else index)
        torch.cuda.set_device(dev)
    if info.active and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return info, dev


class DeviceError(InputError, ValueError):
    """A --device this machine does not have (ValueError too: configs report bad values so)."""


def parse_device(device: str) -> torch.device:
    """torch.device(device), with a name torch does not know reported as DeviceError naming the
    option and the devices this machine has."""
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        raise DeviceError(f"--device {device}: not a device name; this machine has "
                          f"{', '.join(available_devices())}") from None


def available_devices() -> list[str]:
    """The devices a run can use here: "cpu", then "cuda:0", "cuda:1", ... and "mps" if present."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        names.append("mps")
    return names


def check_device(device: str) -> torch.device:
    """`parse_device(device)`, checked to exist on this machine (DeviceError naming --device and
    the devices there are, e.g. "--device cuda:3: no such device here; this machine has cpu,
    cuda:0")."""
    dev = parse_device(device)
    have = available_devices()
    name = dev.type if dev.type in ("cpu", "mps") else f"{dev.type}:{dev.index or 0}"
    if name not in have:
        what = "CUDA is not available" if dev.type == "cuda" and "cuda:0" not in have else (
            "no such device")
        raise DeviceError(f"--device {device}: {what} here; this machine has {', '.join(have)}")
    return dev


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.active:
        dist.barrier()


def wrap(model: torch.nn.Module, info: DistInfo, device: torch.device) -> torch.nn.Module:
    """The model as trained: DistributedDataParallel when there are several ranks."""
    if not info.active:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if hasattr(model, "module") else model


def weights_digest(model: torch.nn.Module) -> list[float]:
    """[sum, sum of squares, sum of |x| * position] over all parameters, in float64: equal digests
    on all ranks mean (to float64 rounding of these sums) equal weights."""
    total = torch.zeros(3, dtype=torch.float64)
    for p in unwrap(model).parameters():
        x = p.detach().double().flatten().cpu()
        pos = torch.arange(1, x.numel() + 1, dtype=torch.float64)
        total += torch.stack([x.sum(), (x * x).sum(), (x.abs() * pos).sum()])
    return total.tolist()


def gather_digests(model: torch.nn.Module, info: DistInfo) -> list[list[float]]:
    """Every rank's `weights_digest`, indexed by rank (just this one without torch.distributed)."""
    mine = weights_digest(model)
    if not info.active:
        return [mine]
    out: list = [None] * info.world
    dist.all_gather_object(out, mine)
    return out


def all_mean(value: float, info: DistInfo, device: torch.device) -> float:
    """The mean of a scalar over ranks (for logging a loss that every rank computed)."""
    if not info.active:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item()) / info.world


def any_rank(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True on every rank when `flag` is True on any (so all ranks leave a loop together)."""
    if not info.active:
        return flag
    t = torch.tensor([int(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())
