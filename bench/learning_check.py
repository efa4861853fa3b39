"""Does the OCLR `tiny` network learn? One command: `make learning-check`.

1. Generates, through layersynth's own code, a training set and a separate Syn-val split of the
   `tiny` scene preset (1, 2 and 3 objects in equal shares, moving camera) with SCENE's changes:
   no artificial occluders, no static spells, none of issue 13's additions (the paper's kind of
   scene: polygons and silhouettes over one background plane), 48 x 80 frames; ground-truth
   flow, fixed seeds (`--data-seed`), so every run sees the same clips.
2. Trains the `tiny` network (at 48 x 80) on the CPU for a fixed number of steps (default 1600),
   float32, with the `tiny` loss recipe changed by LOSS, on the flow `--flow` names (default gt,
   asked for explicitly). The step count, not the CPU's speed, decides what is learnt: 1600 steps
   at batch 4 took 494 s on a quiet 2-core AVX2 CPU (0.31 s a step), 8 min 31 s with generation
   and scoring.
3. Prints Syn-val modal and amodal J (fractions in [0, 1]: the mean over real objects of the mean
   over frames), overall and by number of objects, order accuracy on the pairs that interact, the
   paper-style pooled figures when the evaluation gives them, and the loss curve (RUN/curve.png too
   when matplotlib is importable). The JSON object comes last on stdout.

Targets (per-object figures): order accuracy >= 0.75, modal J within 0.05 of amodal J, amodal J
>= 0.65.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from oclr.cli_train import field_value

TARGETS = {"order_acc": 0.75, "modal_gap": 0.05, "amodal_j": 0.65}
# Clips per step: 4 since 2026-12-02 evening (2 before; docs/model.md, "Batch 4"). The order-change
# benchmark trains with the same budget.
BATCH = 4


def override(text: str) -> tuple[str, object]:
    """`field_value` for argparse: its ValueError becomes the error message argparse prints."""
    try:
        return field_value(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/learning-check", help="work folder (data, run)")
    p.add_argument("--steps", type=int, default=1600, help="training steps (default 1600)")
    p.add_argument("--train", type=int, default=600, help="training sequences")
    p.add_argument("--val", type=int, default=96, help="Syn-val sequences")
    p.add_argument("--batch", type=int, default=BATCH, help=f"clips per step (default {BATCH})")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (default float32)")
    p.add_argument("--flow", default="gt", choices=("gt", "dis", "raft"),
                   help="training and Syn-val flow (default gt); dis/raft must be in the shards "
                   "(`layersynth flow DIR --method dis`)")
    p.add_argument("--lr", type=float, default=None, help="base rate (default: the tiny preset's)")
    p.add_argument("--halvings", type=int, default=2,
                   help="times the rate halves, evenly spread over the run (default 2)")
    p.add_argument("--loss", action="append", default=[], metavar="FIELD=VALUE", type=override,
                   help="override a LossConfig field of the check's recipe (repeatable), e.g. "
                   "modal_weight=0 order_weight=0.05 for the tiny preset's own loss")
    p.add_argument("--model", action="append", default=[], metavar="FIELD=VALUE", type=override,
                   help="override a ModelConfig field of the tiny preset (repeatable)")
    p.add_argument("--val-every", type=int, default=400,
                   help="Syn-val (first 32 clips) every N steps for the curve; 0 = only at the end")
    p.add_argument("--seed", type=int, default=0, help="training seed (weights, clip order)")
    p.add_argument("--data-seed", type=int, default=0,
                   help="generation seed of the training data (Syn-val: + 1000)")
    p.add_argument("--data", default=None, metavar="DIR",
                   help="use DIR/train and DIR/syn-val as they are (made by an earlier check, "
                   "perhaps with DIS flow added) instead of generating into the work folder")
    p.add_argument("--fresh", action="store_true", help="delete the work folder first")
    return p.parse_args(argv)


# The `tiny` scene settings the check changes. No artificial occluders and so no wholly hidden
# spells (they hide behind one). An occluder moves with the background and counts as background
# in the shards' modal masks, but nothing in the network's output can stand for it: its modal
# masks are its amodal masks composited in depth order. On the default `tiny` Syn-val split the
# ground truth's own amodal masks and order, composited, score modal J 0.785 against amodal 1.0
# (27% of object pixels lie under an occluder), so "modal J within 0.05 of amodal J" could not be
# met by any network; without occluders the composite equals the modal labels exactly.
# Static spells go too: the preset's spells last 6-14 frames, so in an 8-frame clip a paused
# object shows no motion for most or all of it. The clips shrink from 64 x 112 to 48 x 80
# (0.54x the pixels, ~0.5x the time of a step), so that 1600 steps fit in the 15 minutes
# where 900 did at the full size.
# And the scene is the paper's kind (issue 13's additions off: articulated bodies, objects
# entering or leaving the frame, near background planes, camera acceleration, shake and fast
# pans), because the check asks whether training learns what the paper's does; with them, most
# objects were smaller than the 6 x 10 token grid resolves at 48 x 80 (the figures: docs/model.md,
# "With the paper's kind of scene").
# Objects move 3.75x the preset's speed (its 0.002-0.025 of the height a frame, 0.1-1.2 px at
# 48 px; 0.09375 rounded to 0.094): the paper's clips are 30 frames, the check's 8, so an object
# travels as far in the check's clip as in one of the paper's. Measured (docs/model.md,
# "Paper-length motion"): amodal J went from 0.62 / 0.67 to 0.64-0.71 in four runs, the
# modal-amodal gap from 0.18 / 0.11 to 0.03-0.06 in three (0.21 in the fourth: merged layers in
# front); rendering the same clips at a 3.75x time step instead (camera and deformation faster
# too) left it at 0.18.
SPEED = (0.0075, 0.094)
SCENE = {"occluder_prob": 0.0, "full_occlusion_prob": 0.0, "static_spell_prob": 0.0,
         "articulated_prob": 0.0, "enter_exit_prob": 0.0, "parallax_prob": 0.0,
         "camera_accel": 0.0, "shake_prob": 0.0, "fast_pan_prob": 0.0,
         "height": 48, "width": 80, "object_speed": SPEED}
# LossConfig fields the check sets over the `tiny` recipe (Dice 1.0): the order term 10x the
# paper's weight, and the modal term on the padded layers only, detached from the masks, so it
# pushes a copy of an object behind it and trains nothing else (docs/model.md, "The learning
# check", for what each did). With MODEL's occlusion order, which has no parameters, both terms
# are only logged; they stay so that `--model order_head=global --model num_objects=3` is the
# check of before 2026-12-03 evening.
LOSS = {"order_weight": 0.5, "modal_weight": 0.5, "modal_layers": "padded", "modal_detach": True}
# The tiny network at the clips' size (ModelConfig height/width: what the data is read at). The
# paper's decoder stays: slot attention with a mask-pooled order head (`--model decoder=slots
# --model order_pool=mask`) did not separate touching objects on any of the data it was tried on
# (docs/model.md, "The learning check").
# Since 2026-12-03 evening: 5 queries for at most 3 objects, and the order read off the masks
# where the flow shows one layer hiding another (`order_head="occlusion"`, `oclr.occlusion_order`).
# Measured on one data set and seed (docs/model.md, "Depth order from the occlusions in the
# flow"): with 3 queries one channel held both objects of 62 of 83 overlapping pairs, with 5 24;
# the learned order heads scored chance (0.47-0.48), the occlusion rule 0.71-0.75 on the same
# networks' masks.
# Since 2026-12-04: a layer repeating a surer layer's mask is dropped when scoring
# (`copies="drop"`, `oclr.copies`; training is the same): on a split of its own (data seed 7000)
# seed 1's modal J 0.371 -> 0.444, amodal J 0.696 -> 0.694, order accuracy the same; seed 0's
# modal J 0.601 -> 0.606.
# Measured 2026-12-04, not adopted: training the learned global head instead and reading its order
# with the occlusion readout (`--model order_head=global --model order_readout=occlusion`,
# `oclr.readout`): seeds 0 and 1 modal gap 0.091 / 0.105 (mean 0.098 against 0.160), order
# accuracy 0.675 / 0.663 (mean 0.669 against 0.717), amodal J 0.662 / 0.674.
# Measured 2026-12-04 evening, not adopted: an objectness head (`--model objectness=true`,
# `oclr.objectness`; trained on detached inputs, so the masks and the order are the same) with the
# layers it calls spare emptied when scoring. Five runs (seeds 0-3, one of them `make
# learning-check`): the modal gap falls in every one (0.102-0.217 -> 0.033-0.161), but amodal J
# falls about as much as modal J rises (mean -0.039 against +0.037), paper-style modal J is flat
# (+0.003) and order accuracy falls in three (-0.036), so fewer of the targets are met (3 of 15
# against 7). docs/model.md, "Layers that hold no object".
# Measured 2026-12-04 night: the budget is a large part of what is missing, but more steps do not
# fit the 15 minutes (4800 steps: 31 minutes of training alone). At 4800 steps, seeds 0 / 1 / 2
# without the head: gap 0.062 / 0.130 / 0.017, order accuracy 0.807 / 0.747 / 0.723, amodal J
# 0.737 / 0.734 / 0.771; with the head's spares dropped seed 0 meets all three targets (0.021,
# 0.795, 0.722). At 2000 steps neither reading meets all three in seeds 0 and 1. docs/model.md,
# "Three times the check's budget".
MODEL = {"height": SCENE["height"], "width": SCENE["width"], "num_objects": 5,
         "order_head": "occlusion", "copies": "drop"}


def generate(out: Path, n: int, seed: int, *, wait: float = 900.0, **scene) -> None:
    """`layersynth generate --preset tiny` with SCENE's changes (and then `scene`'s, SceneConfig
    fields), through layersynth's own generation code (resumable: an existing complete folder is
    kept, one made with other settings made again). While another process holds the folder (two
    checks started on one --out), it waits up to `wait` seconds for it, then raises FolderInUse:
    a folder in use is never deleted."""
    from layersynth.pipeline import generation
    from layersynth.store.folder_lock import FolderInUse

    settings = generation.make_settings(preset="tiny", seed=seed, **{**SCENE, **scene})
    start = time.monotonic()
    while True:
        try:
            summary = _generate_once(settings, n, out)
            break
        except FolderInUse as err:
            if time.monotonic() - start >= wait:
                raise
            log(f"waiting: {err}")
            time.sleep(5.0)
    made = f"{summary['made']} made, {summary['kept']} kept"
    log(f"generated {out} ({n} sequences: {made}) in {time.monotonic() - start:.0f} s")


def _generate_once(settings, n: int, out: Path) -> dict:
    from layersynth.errors import UsageError
    from layersynth.pipeline import generation
    from layersynth.store.folder_lock import FolderInUse

    try:
        return generation.generate(settings, n=n, out=out, workers=2, scheduler=None)
    except FolderInUse:
        raise
    except UsageError as err:
        # a folder made with other settings or by another version of layersynth: start over
        log(f"regenerating {out}: {err}")
        shutil.rmtree(out)
        return generation.generate(settings, n=n, out=out, workers=2, scheduler=None)


def train(args, shards: Path, val: Path, run: Path) -> dict:
    from oclr import engine
    from oclr.config import TrainConfig

    steps = args.steps
    # The paper's schedule scaled to a few hundred steps would halve the rate 7 times and spend
    # most of the run below 1/16 of it; a short run learns more with a few halvings.
    halve_every = max(1, steps // (args.halvings + 1))
    cfg = TrainConfig(shards=str(shards), out=str(run), preset="tiny", steps=steps,
                      warmup=max(1, steps // 20), halve_every=halve_every, flow=args.flow,
                      batch=args.batch, lr=args.lr, workers=0, threads=args.threads,
                      bf16=args.bf16, seed=args.seed, log_every=10,
                      val_shards=str(val) if args.val_every else None,
                      val_every=args.val_every or None, val_limit=32,
                      ckpt_every=max(1, steps // 10), keep_every=10**9,
                      loss=args.loss, model=args.model)
    log(f"training {steps} steps ({args.threads} thread(s), {'bf16' if args.bf16 else 'fp32'}, "
        f"flow {args.flow}); loss {loss_text(cfg.loss_config())}"
        + (f"; model overrides {args.model}" if args.model else ""))
    return engine.train(cfg)


def loss_text(loss) -> str:
    """The loss's changes from the paper's, e.g. "the paper's, order x 0.5, + modal (padded
    layers, detached) x 0.5 + Dice x 1"."""
    from oclr.losses import LossConfig

    paper = LossConfig().order_weight
    order = "" if loss.order_weight == paper else f", order x {loss.order_weight:g}"
    scope = [loss.modal_layers + " layers"] if loss.modal_layers != "all" else []
    scope += ["detached"] if loss.modal_detach else []
    modal = "modal" + (f" ({', '.join(scope)})" if scope else "")
    extra = [f" + {name} x {w:g}" for name, w in ((modal, loss.modal_weight),
                                                   ("Dice", loss.dice_weight)) if w]
    return "the paper's" + order + "".join(extra)


def checked_overrides(items: list[tuple[str, object]], kind: str) -> dict:
    """--loss / --model pairs (parsed by oclr-train's own FIELD=VALUE reader) as a dict, checked
    against LossConfig / the tiny ModelConfig before any work starts."""
    from oclr.config import ModelConfig
    from oclr.losses import LossConfig

    out = dict(items)
    try:
        LossConfig(**out) if kind == "loss" else ModelConfig.preset("tiny", **out)
    except (TypeError, ValueError) as err:
        raise SystemExit(f"learning-check: --{kind}: {err}") from None
    return out


def val_curve(run: Path) -> list[dict]:
    """The Syn-val points logged during training (first 32 clips): step, J and order accuracy."""
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [{"step": r["step"], **{k[4:]: r[k] for k in r if k.startswith("val/")}}
            for r in rows if "val/amodal_j" in r]


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
    # small batches: a 1-object batch scores far below a 3-object one, so the raw curve is
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
    args.loss = checked_overrides([*LOSS.items(), *args.loss], "loss")
    args.model = checked_overrides([*MODEL.items(), *args.model], "model")
    work = Path(args.out)
    if args.fresh and work.exists():
        shutil.rmtree(work)
    data = Path(args.data) if args.data else work
    shards, val, run = data / "train", data / "syn-val", work / "run"
    if args.data is None:
        generate(shards, args.train, args.data_seed)
        generate(val, args.val, args.data_seed + 1000)
    elif not (shards.is_dir() and val.is_dir()):
        raise SystemExit(f"learning-check: --data {data}: needs train/ and syn-val/ folders")
    if run.exists():
        shutil.rmtree(run)
    summary = train(args, shards, val, run)
    return report(args, summary, val, run)


def verdicts(result: dict) -> dict[str, bool]:
    """Each target of TARGETS met or not (NaN order accuracy, no interacting pairs, is not met)."""
    gap = result["amodal_j"] - result["modal_j"]
    return {"order_acc": result["order_acc"] >= TARGETS["order_acc"],
            "modal_gap": gap <= TARGETS["modal_gap"],
            "amodal_j": result["amodal_j"] >= TARGETS["amodal_j"]}


def paper_text(result: dict) -> str:
    """The paper-style pooled figures, when the evaluation gives them."""
    paper = result.get("paper")
    if not isinstance(paper, dict):
        return "paper-style pooled figures: not given by this oclr-eval"
    parts = [f"{k} {v:.3f}" for k, v in paper.items() if isinstance(v, float)]
    return "paper-style pooled per-frame figures: " + ", ".join(parts)


def report(args, summary: dict, val: Path, run: Path) -> int:
    from layersynth.report import emit_json
    from oclr.eval_shards import evaluate_shards, format_table

    result = evaluate_shards(run / "last.pt", val, batch=4, flow=args.flow)
    curve, vcurve = loss_curve(run), val_curve(run)
    plotted = plot_curve(curve, run / "curve.png")
    print(f"trained {summary['step']} steps in {summary['seconds']:.0f} s "
          f"({summary['seconds'] / max(summary['step'], 1):.2f} s/step, batch {args.batch}, "
          f"{args.threads} thread(s), {'bf16' if args.bf16 else 'fp32'}, flow {args.flow}); "
          f"final loss {summary['loss']:.4f}")
    print("loss curve:\n" + curve_text(curve))
    for v in vcurve:
        print(f"  Syn-val (32 clips) at step {v['step']:>5}: amodal J {v['amodal_j']:.3f}, "
              f"modal J {v['modal_j']:.3f}, order acc {v['order_acc']:.3f}")
    print(f"Syn-val ({result['clips']} clips):\n" + format_table(result))
    print(paper_text(result))
    met = verdicts(result)
    print(f"order acc {result['order_acc']:.3f} (target >= {TARGETS['order_acc']}), modal J "
          f"{result['modal_j']:.3f} vs amodal J {result['amodal_j']:.3f} (gap <= "
          f"{TARGETS['modal_gap']}), amodal J (target >= {TARGETS['amodal_j']}): "
          + ("PASS" if all(met.values()) else "BELOW TARGET: " + ", ".join(
              k for k, ok in met.items() if not ok))
          + (f"; curve in {run / 'curve.png'}" if plotted else ""))
    scores = {k: v for k, v in result.items() if k != "sequences"}
    emit_json({"steps": summary["step"], "seconds": summary["seconds"], "threads": args.threads,
               "bf16": args.bf16, "batch": args.batch, "flow": args.flow, "seed": args.seed,
               "loss": args.loss, "model": args.model, "final_loss": summary["loss"],
               "curve": curve, "val_curve": vcurve, **scores, "targets": TARGETS,
               "target_met": met, "passed": all(met.values())})
    return 0


if __name__ == "__main__":
    sys.exit(main())
