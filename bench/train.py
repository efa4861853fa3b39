"""Training-step cost of the OCLR network: `python bench/train.py [--preset oclr] [--frames 8,30]`.

`--model FIELD=VALUE` changes the preset's network (e.g. `--preset tiny --model decoder=slots`).

One step = forward, OCLRLoss (the preset's training loss, oclr.config.DEFAULT_LOSS, with its
Hungarian matching; --loss FIELD=VALUE changes it) and backward on random flow and random
targets (the cost does not depend on the values), no optimiser update. Reports, per clip length T:
seconds per step (median and minimum of --repeat steps after --warmup; on a shared machine the
minimum is the better estimate of the uncontended cost) and per clip, clips/s, and peak memory:
on the CPU the process's peak resident set (VmHWM, reset before each T through
/proc/self/clear_refs), on a GPU torch.cuda.max_memory_allocated. A table, then one JSON line last.

    python bench/train.py --device cuda --dtype bf16 --compile --batch 2 --frames 30
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from layersynth.report import emit_json
from oclr.cli_train import field_value
from oclr.config import DEFAULT_LOSS
from oclr.losses import LossConfig, OCLRLoss
from oclr.model import build_model, count_parameters


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="oclr", choices=("oclr", "tiny"))
    ap.add_argument("--frames", default="8,30", help="clip lengths T to measure, e.g. 8,30")
    ap.add_argument("--batch", type=int, default=1, help="clips per step")
    ap.add_argument("--repeat", type=int, default=3, help="timed steps per T")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps per T (compile included)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    ap.add_argument("--dtype", default="fp32", choices=("fp32", "bf16"), help="bf16 = autocast")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (CPU)")
    ap.add_argument("--loss", action="append", default=[], metavar="FIELD=VALUE",
                    type=field_value, help="LossConfig field over the preset's training loss "
                    "(oclr.config.DEFAULT_LOSS), repeatable, e.g. modal_weight=0")
    ap.add_argument("--model", action="append", default=[], metavar="FIELD=VALUE",
                    type=field_value, help="ModelConfig field over the preset, repeatable, e.g. "
                    "decoder=slots or height=48")
    ap.add_argument("--json", default=None, help="also write the JSON result to this file")
    return ap.parse_args()


def peak_rss_reset() -> None:
    """Reset the kernel's peak-RSS counter of this process (Linux >= 4.0; silently skipped)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_rss_mib() -> float | None:
    """Peak resident set (VmHWM) of this process in MiB, or None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def make_step(model, loss_fn, batch: int, frames: int, device: torch.device, dtype: str):
    """A closure running one forward + loss + backward on fixed random inputs."""
    cfg = model_cfg(model)
    g = torch.Generator(device="cpu").manual_seed(0)
    flow = torch.randn(batch, frames, cfg.in_channels, cfg.height, cfg.width, generator=g)
    target = torch.rand(batch, frames, cfg.num_objects, cfg.height, cfg.width, generator=g) > 0.7
    flow, target = flow.to(device), target.to(device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == "bf16")

    def step() -> None:
        with autocast:
            logits, order = model(flow)
        total, _ = loss_fn(logits, order, target)
        total.backward()
        model.zero_grad(set_to_none=True)

    return step


def model_cfg(model):
    """The ModelConfig of a model, compiled or not."""
    return getattr(model, "_orig_mod", model).cfg


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(model, args: argparse.Namespace, frames: int, device: torch.device) -> dict:
    """Median step time and peak memory for clips of `frames` frames."""
    loss = OCLRLoss(LossConfig(**{**DEFAULT_LOSS[args.preset], **dict(args.loss)}))
    step = make_step(model, loss, args.batch, frames, device, args.dtype)
    for _ in range(args.warmup):
        step()
    sync(device)
    peak_rss_reset()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - start)
    sec = statistics.median(times)
    out = {"frames": frames, "batch": args.batch, "sec_per_step": sec, "sec_min": min(times),
           "sec_per_clip": sec / args.batch, "clips_per_s": args.batch / sec,
           "times": times, "peak_rss_mib": peak_rss_mib()}
    if device.type == "cuda":
        out["cuda_max_allocated_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    return out


def print_table(rows: list[dict]) -> None:
    print(f"{'T':>4} {'batch':>5} {'s/step':>8} {'min s':>8} {'s/clip':>8} {'clips/s':>8} "
          f"{'peak RSS MiB':>12} {'CUDA MiB':>9}")
    for r in rows:
        cuda = r.get("cuda_max_allocated_mib")
        cuda_txt = f"{cuda:9.0f}" if cuda is not None else f"{'-':>9}"
        rss = r["peak_rss_mib"]
        rss_txt = f"{rss:12.0f}" if rss is not None else f"{'-':>12}"
        print(f"{r['frames']:>4} {r['batch']:>5} {r['sec_per_step']:8.3f} {r['sec_min']:8.3f} "
              f"{r['sec_per_clip']:8.3f} "
              f"{r['clips_per_s']:8.3f} {rss_txt} {cuda_txt}")


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    frames = [int(t) for t in args.frames.split(",")]
    model = build_model(args.preset, **{"frames": max(frames), **dict(args.model)})
    model = model.to(device).train()
    params = count_parameters(model)
    if args.compile:
        model = torch.compile(model)
    rows = [measure(model, args, t, device) for t in frames]
    print(f"preset {args.preset}: {params['total'] / 1e6:.2f} M parameters, device {device}, "
          f"{args.dtype}, compile {args.compile}, torch threads {torch.get_num_threads()}")
    print_table(rows)
    emit_json({"preset": args.preset, "model": dict(args.model), "device": str(device),
               "dtype": args.dtype, "compile": args.compile, "threads": torch.get_num_threads(),
               "parameters": params, "rows": rows}, args.json)


if __name__ == "__main__":
    main()
