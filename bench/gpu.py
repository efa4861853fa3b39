"""GPU figures in one command: training step, RAFT and `oclr-infer` throughput.

    bench/gpu.sh                  # on a machine with a CUDA GPU: the figures (under 8 minutes)
    bench/gpu.sh --cpu-smoke      # the same code paths, tiny, on the CPU (under a minute)

Measures, with random weights throughout (speed does not depend on the values; nothing is
downloaded):

1. the `oclr` training step (forward, the preset's training loss with its Hungarian matching,
   backward, gradient clipping at 5, Adam update) on random flow and targets of T = 30 frames of
   128 x 224: clips/s and peak memory (torch.cuda.max_memory_allocated; on the CPU the process's
   peak RSS) for fp32, bf16 autocast, and bf16 + torch.compile, at batch 2 and at the largest
   batch that fits (found by doubling from 2, then halving the gap, on the first two modes;
   compile is measured at the bf16 one);
2. RAFT (ptlflow, through layersynth's estimator, 20 iterations, the paper's) pairs/s at 128 x 224
   for batches 32, 64 and 128;
3. `oclr-infer` (the console command's code, in process) frames/s on a synthetic 854 x 480 video,
   with RAFT and with DIS flow, per stage (flow, model, writing masks).

Prints one table, then one JSON object last on stdout (`--json FILE` also writes it). The smoke
mode runs every one of these functions with a tiny model, tiny frames, few iterations and the
"eager" compile backend (TorchDynamo captures the model's graphs as on the GPU, but inductor's C++
build of them takes minutes on a CPU); only sizes and that backend differ.
A section that has run past `--budget` seconds is skipped and says so.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import oclr
import torch
from layersynth.estimators.raft import RaftConfig, RaftEstimator, import_ptlflow, load_raft
from layersynth.report import emit_json
from oclr.checkpoint import save_checkpoint
from oclr.cli_infer import main as infer_main
from oclr.config import DEFAULT_LOSS
from oclr.losses import LossConfig, OCLRLoss
from PIL import Image

MODES = ("fp32", "bf16", "bf16+compile")


@dataclass(frozen=True)
class BenchSettings:
    """What is measured, and how big. `model`: overrides of the `oclr` preset (none: the paper's
    network); `max_batch`: the batch search stops there; `raft_hw` (H, W) and `raft_batches`;
    `video_hw` (H, W) and `video_frames` of the `oclr-infer` video; `steps` timed per point."""

    device: str = "cuda"
    model: tuple = ()
    max_batch: int = 256
    steps: int = 5
    compile_backend: str = "inductor"
    raft_hw: tuple[int, int] = (128, 224)
    raft_batches: tuple[int, ...] = (32, 64, 128)
    raft_iters: int = 20
    raft_min_side: int = 128
    video_hw: tuple[int, int] = (480, 854)
    video_frames: int = 60
    infer_batch: int = 4
    budget_s: float = 450.0


GPU = BenchSettings()
# The tiny model of the tests, frames RAFT can still pyramid (4 levels need 1/8 size >= 8 x 8);
# max_batch 2: the batch search runs, but each mode is timed once (each compile costs seconds).
CPU_SMOKE = BenchSettings(
    device="cpu", model=(("frames", 4), ("height", 32), ("width", 48),
                         ("cnn_channels", (8, 16, 32)), ("d_model", 32), ("heads", 2),
                         ("ffn_dim", 32)),
    max_batch=2, steps=1, compile_backend="eager", raft_hw=(64, 96), raft_batches=(2, 4),
    raft_iters=2, raft_min_side=64, video_hw=(64, 96), video_frames=2, infer_batch=1,
    budget_s=120.0)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    else:
        with contextlib.suppress(OSError):  # Linux: reset the peak resident set (VmHWM)
            Path("/proc/self/clear_refs").write_text("5")


def peak_mib(device: torch.device) -> float | None:
    """Peak CUDA memory allocated, or on the CPU the peak resident set, in MiB."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


def build_network(s: BenchSettings, device: torch.device, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return oclr.build_model("oclr", **dict(s.model)).to(device)


def training_step(model, compiled, batch: int, device: torch.device, bf16: bool):
    """A closure running one full optimiser step on fixed random inputs of `batch` clips."""
    cfg = model.cfg
    g = torch.Generator().manual_seed(batch)
    flow = torch.randn(batch, cfg.frames, cfg.in_channels, cfg.height, cfg.width, generator=g)
    target = torch.rand(batch, cfg.frames, cfg.num_objects, cfg.height, cfg.width, generator=g)
    flow, target = flow.to(device), (target > 0.7).to(device)
    loss_fn = OCLRLoss(LossConfig(**DEFAULT_LOSS["oclr"]))
    optimiser = torch.optim.Adam(model.parameters(), lr=5e-5)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits, order = compiled(flow)
        total, _ = loss_fn(logits, order, target)
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)

    return step


def time_steps(step, device: torch.device, steps: int) -> tuple[float, float | None]:
    """(median seconds per step after one warm-up step, peak MiB during the timed steps)."""
    step()
    sync(device)
    reset_peak(device)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), peak_mib(device)


def is_out_of_memory(err: BaseException) -> bool:
    """True for CUDA (or CPU allocator) out-of-memory, also when another error wraps it."""
    while err is not None:
        if isinstance(err, torch.cuda.OutOfMemoryError) or "out of memory" in str(err).lower():
            return True
        err = err.__cause__ or err.__context__
    return False


def measure_train(s: BenchSettings, mode: str, batch: int) -> dict:
    """One point: a fresh model (so memory and compile caches do not carry over)."""
    device = torch.device(s.device)
    model = build_network(s, device).train()
    compiled = model
    if mode.endswith("+compile"):
        torch._dynamo.reset()
        compiled = torch.compile(model, backend=s.compile_backend, dynamic=False)
    start = time.perf_counter()
    try:
        sec, peak = time_steps(training_step(model, compiled, batch, device, mode != "fp32"),
                               device, s.steps)
    except Exception as err:  # OOM arrives as OutOfMemoryError, or wrapped by torch.compile
        if not is_out_of_memory(err):
            raise
        return {"section": "train", "mode": mode, "batch": batch, "fits": False}
    finally:
        del model, compiled
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return {"section": "train", "mode": mode, "batch": batch, "fits": True,
            "sec_per_step": sec, "clips_per_s": batch / sec, "peak_mib": peak,
            "seconds_with_warmup": time.perf_counter() - start}


def largest_batch(s: BenchSettings, mode: str) -> tuple[int, list[dict]]:
    """The largest batch that fits for `mode` (doubling from 2, then bisecting the last gap
    down to a quarter of the lower bound), and every point tried."""
    tried, lo, hi = [], 0, None
    batch = 2
    while batch <= s.max_batch:
        tried.append(measure_train(replace(s, steps=1), mode, batch))
        if not tried[-1]["fits"]:
            hi = batch
            break
        lo, batch = batch, batch * 2
    while hi is not None and hi - lo > max(1, lo // 4):
        mid = (lo + hi) // 2
        tried.append(measure_train(replace(s, steps=1), mode, mid))
        lo, hi = (mid, hi) if tried[-1]["fits"] else (lo, mid)
    return lo, tried


def train_section(s: BenchSettings, clock) -> list[dict]:
    rows, biggest = [], {}
    for mode in MODES[:2]:
        if clock.over():
            return rows + [clock.skipped("train", mode)]
        biggest[mode] = max(2, largest_batch(s, mode)[0])  # 2 not fitting: its row says so
    biggest["bf16+compile"] = biggest["bf16"]
    for mode in MODES:
        for batch in sorted({2, biggest[mode]}):
            if clock.over():
                return rows + [clock.skipped("train", f"{mode} batch {batch}")]
            row = measure_train(s, mode, batch)
            rows.append({**row, "largest": batch == biggest[mode] and batch != 2})
    return rows


def random_raft_weights(path: Path) -> Path:
    """ptlflow's RAFT with its random initial weights, saved as a bare state dict."""
    torch.manual_seed(0)
    torch.save(import_ptlflow().get_model("raft").state_dict(), path)
    return path


def raft_section(s: BenchSettings, weights: Path, clock) -> list[dict]:
    rows, h, w = [], *s.raft_hw
    rng = np.random.default_rng(0)
    for batch in s.raft_batches:
        if clock.over():
            return rows + [clock.skipped("raft", f"batch {batch}")]
        cfg = RaftConfig(str(weights), s.device, batch, s.raft_iters, "auto", s.raft_min_side)
        estimator = RaftEstimator(load_raft(cfg), cfg)
        src = rng.integers(0, 256, (batch, h, w, 3), dtype=np.uint8)
        dst = np.roll(src, 2, axis=2)
        estimator.estimate_pairs(src, dst)  # warm-up: cuDNN picks its kernels
        reset_peak(torch.device(s.device))
        start = time.perf_counter()
        repeats = max(1, s.steps // 2)
        for _ in range(repeats):
            estimator.estimate_pairs(src, dst)
        sec = (time.perf_counter() - start) / repeats
        rows.append({"section": "raft", "batch": batch, "size": [h, w], "iters": s.raft_iters,
                     "precision": estimator.autocast or "float32", "pairs_per_s": batch / sec,
                     "peak_mib": peak_mib(torch.device(s.device))})
    return rows


def write_video(folder: Path, n: int, h: int, w: int) -> None:
    """n JPEG frames: a textured block moving right over a textured background."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    small = rng.integers(0, 256, (max(h // 8, 1), max(w // 8, 1), 3), dtype=np.uint8)
    bg = np.asarray(Image.fromarray(small).resize((w, h), Image.BILINEAR))
    block = rng.integers(0, 256, (h // 4, w // 6, 3), dtype=np.uint8)
    for t in range(n):
        frame = bg.copy()
        x = (w // 10 + 4 * t) % (w - block.shape[1])
        frame[h // 3:h // 3 + block.shape[0], x:x + block.shape[1]] = block
        Image.fromarray(frame).save(folder / f"{t:05d}.jpg", quality=90)


def infer_section(s: BenchSettings, work: Path, weights: Path, clock) -> list[dict]:
    model = build_network(s, torch.device("cpu"))
    ckpt = save_checkpoint({"model": model.state_dict(), "model_config": model.cfg.to_dict()},
                           work / "oclr-random.pt")
    write_video(work / "frames", s.video_frames, *s.video_hw)
    rows = []
    for method in ("raft", "dis"):
        if clock.over():
            return rows + [clock.skipped("infer", method)]
        flow = ["--flow", method] + (["--raft-weights", str(weights)] if method == "raft" else [])
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = infer_main(["--checkpoint", str(ckpt), "--frames", str(work / "frames"),
                               "--out", str(work / f"out-{method}"), "--no-flow-cache",
                               "--device", s.device, "--batch", str(s.infer_batch), *flow])
        if code != 0:
            raise SystemExit(f"oclr-infer --flow {method} failed (exit {code})")
        summary = json.loads(out.getvalue().strip().splitlines()[-1])
        rows.append({"section": "infer", "flow": method, "frames": summary["frames"],
                     "size": summary["size"], "seconds": summary["seconds"],
                     "frames_per_s": summary["fps"]})
    return rows


class Clock:
    """Seconds since the start against the budget; a skipped point says why."""

    def __init__(self, budget_s: float) -> None:
        self.start, self.budget = time.perf_counter(), budget_s

    def over(self) -> bool:
        return time.perf_counter() - self.start > self.budget

    def skipped(self, section: str, what: str) -> dict:
        return {"section": section, "skipped": f"{what} and the rest: past the {self.budget:.0f} "
                                               "s budget"}


def run(s: BenchSettings) -> dict:
    """Every section under `s`; the JSON object the command prints."""
    clock = Clock(s.budget_s)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        weights = random_raft_weights(work / "raft-random.pth")
        rows = train_section(s, clock)
        rows += raft_section(s, weights, clock)
        rows += infer_section(s, work, weights, clock)
    return {"device": describe_device(s.device), "torch": torch.__version__,
            "settings": asdict(s), "seconds": time.perf_counter() - clock.start, "rows": rows}


def describe_device(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"cpu ({torch.get_num_threads()} threads)"


def format_table(result: dict) -> str:
    """One table: a line per measured point, grouped by section."""
    lines = [f"{result['device']}, torch {result['torch']}, {result['seconds']:.0f} s",
             f"{'section':<8} {'setting':<22} {'batch':>6} {'rate':>16} {'peak MiB':>9}"]
    for r in result["rows"]:
        lines.append(_row(r))
    return "\n".join(lines)


def _row(r: dict) -> str:
    peak = r.get("peak_mib")
    peak_txt = f"{peak:9.0f}" if peak is not None else f"{'-':>9}"
    if "skipped" in r:
        return f"{r['section']:<8} skipped: {r['skipped']}"
    if r["section"] == "train":
        if not r["fits"]:
            return f"{'train':<8} {r['mode']:<22} {r['batch']:>6} {'does not fit':>16}"
        label = r["mode"] + (" (largest)" if r.get("largest") else "")
        rate = f"{r['clips_per_s']:>9.2f} clips/s"
        return f"{'train':<8} {label:<22} {r['batch']:>6} {rate} {peak_txt}"
    if r["section"] == "raft":
        label = f"{r['size'][0]}x{r['size'][1]} {r['iters']} it {r['precision']}"
        rate = f"{r['pairs_per_s']:>9.1f} pairs/s"
        return f"{'raft':<8} {label:<22} {r['batch']:>6} {rate} {peak_txt}"
    sec = r["seconds"]
    label = (f"{r['size'][1]}x{r['size'][0]} {r['flow']} (flow {sec['flow']:.1f} model "
             f"{sec['model']:.1f} write {sec['write']:.1f} s)")
    return f"{'infer':<8} {label} {r['frames_per_s']:>9.2f} frames/s"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cpu-smoke", action="store_true",
                   help="the same code paths, tiny, on the CPU (under a minute)")
    p.add_argument("--device", default=None, help="cuda or cuda:N (default cuda)")
    p.add_argument("--budget", type=float, default=None, help="seconds before sections are skipped")
    p.add_argument("--json", default=None, help="also write the JSON result to this file")
    args = p.parse_args(argv)
    s = CPU_SMOKE if args.cpu_smoke else GPU
    s = replace(s, device=args.device or s.device, budget_s=args.budget or s.budget_s)
    if s.device.startswith("cuda") and not torch.cuda.is_available():
        p.error(f"--device {s.device}: no CUDA GPU here; use --cpu-smoke for the CPU check")
    result = run(s)
    print(format_table(result))
    emit_json(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
