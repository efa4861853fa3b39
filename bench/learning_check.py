"""Does the OCLR `tiny` network learn? One command: `make learning-check`.

1. `layersynth generate --preset tiny`: a training set and a separate Syn-val split with the same
   settings (1, 2 and 3 objects in equal shares, moving camera, occlusions at the preset's defaults,
   ground-truth flow), different seeds.
2. Trains the `tiny` preset on the CPU within a wall-clock budget (default 10 minutes). A few
   calibration steps with 1 and 2 torch threads, float32 and bf16 autocast, pick the fastest and
   measure its speed, so the run's step count (and with it the schedule) fits the budget.
3. Prints Syn-val modal and amodal J (fractions in [0, 1]: the mean over real objects of the mean
   over frames), overall and by number of objects, and the loss curve (RUN/curve.png too when
   matplotlib is importable). The JSON object comes last on stdout.

Target: amodal J >= 0.6 overall after 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from oclr.cli_train import field_value


def loss_field(text: str) -> tuple[str, object]:
    """`field_value` for argparse: its ValueError becomes the error message argparse prints."""
    try:
        return field_value(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/learning-check", help="work folder (data, run)")
    p.add_argument("--budget", type=float, default=600.0, help="training seconds (default 600)")
    p.add_argument("--train", type=int, default=600, help="training sequences")
    p.add_argument("--val", type=int, default=96, help="Syn-val sequences")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--lr", type=float, default=None, help="base rate (default: the tiny preset's)")
    p.add_argument("--halvings", type=int, default=2,
                   help="times the rate halves, evenly spread over the run (default 2)")
    p.add_argument("--loss", action="append", default=[], metavar="FIELD=VALUE", type=loss_field,
                   help="override a LossConfig field of the tiny recipe (repeatable), e.g. "
                   "dice_weight=0 for the paper's loss")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fresh", action="store_true", help="delete the work folder first")
    return p.parse_args(argv)


def generate(out: Path, n: int, seed: int) -> None:
    """`layersynth generate` (resumable: an existing complete folder is kept)."""
    exe = Path(sys.executable).parent / "layersynth"
    cmd = [str(exe), "generate", "--preset", "tiny", "--n", str(n), "--seed", str(seed),
           "--out", str(out)]
    start = time.monotonic()
    ok = subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode == 0
    if not ok and out.exists():
        # layersynth refuses to extend a folder made by another version of itself: start over
        log(f"regenerating {out} (see the reason above)")
        shutil.rmtree(out)
        ok = subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode == 0
    if not ok:
        raise SystemExit(f"learning-check: generating {out} failed")
    log(f"generated {out} ({n} sequences) in {time.monotonic() - start:.0f} s")


def seconds_per_step(shards: Path, work: Path, threads: int, batch: int, bf16: bool) -> float:
    """Fastest of 3 tiny steps, data reading included (after one warm-up step), with `threads`
    torch threads, in float32 or under bf16 autocast.

    The fastest, not the median: on a shared CPU a slow calibration would plan too few steps and
    leave the budget unused, while a run planned too long is simply cut by the budget."""
    import torch
    from oclr import engine
    from oclr.config import TrainConfig

    torch.set_num_threads(threads)
    cfg = TrainConfig(shards=str(shards), out=str(work), preset="tiny", steps=100,
                             batch=batch, workers=0, bf16=bf16).resolved()
    trainer = engine.Trainer(cfg, engine.D.DistInfo(), torch.device("cpu"))
    times = []
    for step in range(4):  # reading the clips counts: the run reads them in this process too
        start = time.monotonic()
        items = [trainer.dataset[(step * batch + i) % len(trainer.dataset)] for i in range(batch)]
        trainer.train_step(torch.utils.data.default_collate(items))
        times.append(time.monotonic() - start)
    return min(times[1:])


def pick_speed(shards: Path, work: Path, batch: int) -> tuple[int, bool, float]:
    """(threads, bf16, seconds per step) of the fastest of 1 or 2 threads, float32 or bf16.

    bf16 autocast (float32 weights and loss) is some 30% faster on CPUs with AMX and can be
    slower on CPUs without bf16 instructions, so it is measured, not assumed."""
    speeds = {(t, bf16): seconds_per_step(shards, work / f"calib-{t}-{int(bf16)}", t, batch, bf16)
              for t in (1, 2) for bf16 in (False, True)}
    log("calibration, seconds per step: " + ", ".join(
        f"{t} thread(s) {'bf16' if b else 'fp32'} {s:.2f}" for (t, b), s in speeds.items()))
    threads, bf16 = min(speeds, key=speeds.get)
    return threads, bf16, speeds[threads, bf16]


def train(args, shards: Path, run: Path, threads: int, bf16: bool, step_s: float) -> dict:
    from oclr import engine
    from oclr.config import TrainConfig

    # aim at 95% of the budget: the last steps and the final checkpoint must fit in too
    steps = max(20, int(0.95 * args.budget / step_s))
    log(f"training up to {steps} steps ({threads} thread(s), {'bf16' if bf16 else 'fp32'}, "
        f"~{step_s:.2f} s/step, budget {args.budget:.0f} s)")
    # The paper's schedule scaled to a few hundred steps would halve the rate 7 times and spend
    # most of the budget below 1/16 of it; a short run learns more with a few halvings.
    halve_every = max(1, steps // (args.halvings + 1))
    cfg = TrainConfig(shards=str(shards), out=str(run), preset="tiny", steps=steps,
                             warmup=max(1, steps // 20), halve_every=halve_every,
                             batch=args.batch, lr=args.lr, workers=0, threads=threads, bf16=bf16,
                             seed=args.seed, max_seconds=args.budget, log_every=10,
                             ckpt_every=max(1, steps // 10), keep_every=10**9,
                             loss=args.loss)
    dice = cfg.loss_config().dice_weight
    log("loss: the paper's" + (f" + Dice x {dice:g}" if dice else " only"))
    return engine.train(cfg)


def loss_overrides(items: list[tuple[str, object]]) -> dict:
    """--loss pairs (parsed by oclr-train's own FIELD=VALUE reader) as a dict, checked against
    LossConfig before any work starts."""
    from oclr.losses import LossConfig

    out = dict(items)
    try:
        LossConfig(**out)
    except (TypeError, ValueError) as err:
        raise SystemExit(f"learning-check: --loss: {err}") from None
    return out


def loss_curve(run: Path) -> list[tuple[int, float]]:
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["train/loss"]) for r in rows if "train/loss" in r]


def plot_curve(curve: list[tuple[int, float]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    steps, values = [s for s, _ in curve], [v for _, v in curve]
    # batches of 2 clips: a 1-object batch scores far below a 3-object one, so the raw curve is
    # noisy; the mean of the last 20 logged points shows the trend
    smooth = [sum(values[max(0, i - 19): i + 1]) / len(values[max(0, i - 19): i + 1])
              for i in range(len(values))]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps, values, color="0.75", linewidth=0.8, label="logged step")
    ax.plot(steps, smooth, color="C0", label="mean of the last 20")
    ax.set(xlabel="step", ylabel="training loss", yscale="log", title="OCLR tiny, CPU")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def curve_text(curve: list[tuple[int, float]], points: int = 10) -> str:
    """The loss at ~`points` evenly spaced logged steps (each the mean of its neighbours)."""
    if not curve:
        return "(no loss logged)"
    picks = sorted({round(i * (len(curve) - 1) / (points - 1)) for i in range(points)})
    rows = []
    for i in picks:
        window = [v for _, v in curve[max(0, i - 2): i + 3]]
        rows.append(f"  step {curve[i][0]:>6}  loss {sum(window) / len(window):.4f}")
    return "\n".join(rows)


def log(message: str) -> None:
    print(f"learning-check: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.loss = loss_overrides(args.loss)
    work = Path(args.out)
    if args.fresh and work.exists():
        shutil.rmtree(work)
    shards, val, run = work / "train", work / "syn-val", work / "run"
    generate(shards, args.train, args.seed)
    generate(val, args.val, args.seed + 1000)
    if run.exists():
        shutil.rmtree(run)
    threads, bf16, step_s = pick_speed(shards, work, args.batch)
    summary = train(args, shards, run, threads, bf16, step_s)
    return report(args, summary, val, run, threads, bf16)


def report(args, summary: dict, val: Path, run: Path, threads: int, bf16: bool) -> int:
    from layersynth.report import emit_json
    from oclr.eval_shards import evaluate_shards, format_table

    result = evaluate_shards(run / "last.pt", val, batch=4)
    curve = loss_curve(run)
    plotted = plot_curve(curve, run / "curve.png")
    print(f"trained {summary['step']} steps in {summary['seconds']:.0f} s "
          f"({summary['seconds'] / max(summary['step'], 1):.2f} s/step, batch {args.batch}, "
          f"{threads} thread(s), {'bf16' if bf16 else 'fp32'}); final loss {summary['loss']:.4f}")
    print("loss curve:\n" + curve_text(curve))
    print(f"Syn-val ({result['clips']} clips):\n" + format_table(result))
    amodal = result["amodal_j"]
    verdict = "PASS" if amodal >= 0.6 else "BELOW TARGET"
    print(f"amodal J {amodal:.3f} (target >= 0.6): {verdict}"
          + (f"; curve in {run / 'curve.png'}" if plotted else ""))
    scores = {k: v for k, v in result.items() if k != "sequences"}
    emit_json({"steps": summary["step"], "seconds": summary["seconds"], "threads": threads,
               "bf16": bf16, "batch": args.batch, "final_loss": summary["loss"], "curve": curve,
               **scores,
               "target_met": amodal >= 0.6})
    return 0


if __name__ == "__main__":
    sys.exit(main())
