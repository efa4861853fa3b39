"""Does a per-frame order head pay off where depth order changes? (issue 16; not a timed test)

1. Generates, through layersynth's own code and the learning check's scene (`learning_check.SCENE`:
   the `tiny` preset without occluders, static spells or issue 13's additions, 48 x 80, 8
   frames), a training set in which `--order-changes` of the multi-object scenes swap two
   objects' depth once, at a crossing by default (so the pair shows both orders in the image),
   and two Syn-val splits of 2- and 3-object scenes with the other events off, like layersynth's
   `syn-val-reorder` preset: "reorder", where every scene changes order (at a crossing), and
   "still", where none does.
2. Trains the `tiny` network with a per-frame order head (`--head`: "frame", the default, or
   "visible", docs/model.md) and with the paper's global head, or, for `--head occlusion_frame`,
   once for it and the clip-level "occlusion" readout (neither has parameters), each
   `--seeds` times (seeds 0, 1, ...), with the learning check's recipe and budget
   (`learning_check.train`: its loss, 1600 steps at batch 4 by default, float32 on the CPU; ~8
   minutes a run on a quiet 2-core CPU, so the default 2 x 3 runs take about 50 minutes).
   `--against global` sets the readout against the paper's learned head instead, trained beside
   it. `--head global_readout` trains the paper's learned global head once a seed and scores it
   twice: read per frame by the occlusion readout (`ModelConfig.order_readout`) against its own
   head's order. `--keep-runs` scores runs already finished in the work folder instead of
   training them again.
3. Evaluates every run on both splits (`oclr.eval_shards`) and prints a table of per-frame order
   accuracy (pairs overlapping at a frame, in that frame's order), global order accuracy, modal J
   and amodal J per head, split and seed, then the means over seeds and the issue's tests: on
   "reorder" the per-frame head beats the global one by >= 0.10 in per-frame order accuracy and
   on modal J; on "still" its modal and amodal J stay within 0.02 of the global head's. The JSON
   object comes last on stdout.

A tiny end-to-end check of the script itself: `--steps 20 --train 12 --val 8 --seeds 1`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import learning_check as lc

# --head: the per-frame head, and the one-order-per-clip head it is set against
GLOBAL_OF = {"frame": "global", "visible": "global", "occlusion_frame": "occlusion",
             "global_readout": "global"}
PER_FRAME_HEADS = tuple(GLOBAL_OF)
ONE_ORDER_HEADS = ("global", "occlusion")
# What each name trains, and the order head and order readout it is scored with (ModelConfig
# order_head, order_readout; `oclr.readout`). The occlusion heads have no parameters, so their
# order terms train nothing and one training serves both; "global_readout" is the paper's learned
# global head trained as it is, its order read per frame by the occlusion readout. Names that
# train the same head share a seed's training (the run folder "<trained head>-seed<N>").
READINGS = {"frame": ("frame", "frame", "head"), "visible": ("visible", "visible", "head"),
            "occlusion_frame": ("occlusion_frame", "occlusion_frame", "head"),
            "occlusion": ("occlusion_frame", "occlusion", "head"),
            "global": ("global", "global", "head"),
            "global_readout": ("global", "global", "occlusion_frame")}
# ModelConfig fields that only change what evaluation reads off a network (`oclr.copies`,
# `oclr.readout`, `oclr.objectness`): a run kept with --keep-runs is scored with the asked value,
# whatever it was trained with
READOUT_FIELDS = ("copies", "order_readout", "spares")
SPLITS = ("reorder", "still")
METRICS = ("frame_order_acc", "order_acc", "modal_j", "amodal_j")
# Syn-val scenes: 2 or 3 objects, the events that could hide a swap off (an object leaving the
# frame, or pausing so its motion says nothing), as in layersynth's syn-val-reorder preset.
VAL_SCENE = {"objects": (2, 3), "enter_exit_prob": 0.0, "static_spell_prob": 0.0}
TARGETS = {"frame_order_gain": 0.10, "modal_gain": 0.0, "still_within": 0.02}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/order-change", help="work folder (data, runs)")
    p.add_argument("--steps", type=int, default=1600, help="training steps a run (default 1600)")
    p.add_argument("--seeds", type=int, default=3, help="runs per head, seeds 0.. (default 3)")
    p.add_argument("--first-seed", type=int, default=0,
                   help="first training seed (default 0): --first-seed 1 --seeds 2 runs seeds 1 "
                   "and 2, e.g. beside another process on the same --out")
    p.add_argument("--train", type=int, default=600, help="training sequences (default 600)")
    p.add_argument("--val", type=int, default=96, help="sequences per Syn-val split (default 96)")
    p.add_argument("--order-changes", type=float, default=0.5, metavar="P",
                   help="share of the training set's multi-object scenes that change order "
                   "(default 0.5: the network also sees scenes that keep one order)")
    p.add_argument("--apart", action="store_true",
                   help="training swaps happen while the two objects are apart (layersynth's "
                   "default) instead of at a crossing")
    p.add_argument("--head", default="frame", choices=PER_FRAME_HEADS,
                   help="the per-frame order head compared with its one-order head: frame and "
                   "visible with the paper's global one, occlusion_frame with occlusion (one "
                   "training serves both), global_readout (the global head trained, its order "
                   "read per frame by the occlusion readout) with global, on the same training "
                   "(default frame)")
    p.add_argument("--against", default=None, choices=ONE_ORDER_HEADS,
                   help="the one-order head to set it against (default: global for frame and "
                   "visible, occlusion for occlusion_frame); `--head occlusion_frame --against "
                   "global` trains the paper's head beside the readout")
    p.add_argument("--keep-runs", action="store_true",
                   help="score a run already in the work folder as it is when it finished the "
                   "same training (head, seed, steps, batch, loss, model, data) instead of "
                   "training it again")
    p.add_argument("--batch", type=int, default=lc.BATCH,
                   help=f"clips per step (default {lc.BATCH}, the learning check's)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (default float32)")
    p.add_argument("--lr", type=float, default=None, help="base rate (default: the tiny preset's)")
    p.add_argument("--halvings", type=int, default=2,
                   help="times the rate halves, evenly spread over the run (default 2)")
    p.add_argument("--loss", action="append", default=[], metavar="FIELD=VALUE", type=lc.override,
                   help="override a LossConfig field of the learning check's recipe (repeatable)")
    p.add_argument("--model", action="append", default=[], metavar="FIELD=VALUE",
                   type=lc.override, help="override a ModelConfig field for both heads")
    p.add_argument("--data-seed", type=int, default=0,
                   help="generation seed of the training data (Syn-val: + 1000 and + 2000)")
    p.add_argument("--fresh", action="store_true", help="delete the work folder first")
    args = p.parse_args(argv)
    if args.against == "occlusion" and args.head != "occlusion_frame":
        p.error("--against occlusion: only the occlusion_frame readout shares its training")
    if not 0 <= args.order_changes <= 1:
        p.error(f"--order-changes: {args.order_changes} is not a share in [0, 1]")
    if min(args.steps, args.seeds, args.train, args.val) < 1 or args.first_seed < 0:
        p.error("--steps, --seeds, --train and --val must be >= 1, --first-seed >= 0")
    return args


def make_data(args, data: Path) -> dict[str, Path]:
    """The training set and the two Syn-val splits under `data` (kept when already complete)."""
    folders = {"train": data / "train", "reorder": data / "syn-val-reorder",
               "still": data / "syn-val-still"}
    lc.generate(folders["train"], args.train, args.data_seed,
                order_change_prob=args.order_changes, order_change_crossing=not args.apart)
    lc.generate(folders["reorder"], args.val, args.data_seed + 1000, **VAL_SCENE,
                order_change_prob=1.0, order_change_crossing=True)
    lc.generate(folders["still"], args.val, args.data_seed + 2000, **VAL_SCENE)
    return folders


def run_args(args, head: str, seed: int) -> argparse.Namespace:
    """What `learning_check.train` reads, for one head name and seed (no Syn-val during
    training): the head READINGS says the name trains."""
    model = {**args.model, "order_head": READINGS[head][0]}
    return argparse.Namespace(**{**vars(args), "seed": seed, "model": model, "flow": "gt",
                                 "val_every": 0})


def train_and_score(args, folders: dict[str, Path], runs: Path) -> list[dict]:
    """One row per (head, seed, split): the run's Syn-val METRICS on that split."""
    from oclr.eval_shards import evaluate_shards

    rows = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        done: dict[Path, dict] = {}  # this seed's trainings: run folder -> summary
        for head in heads(args):
            run = runs / f"{READINGS[head][0]}-seed{seed}"
            if run not in done:
                done[run] = trained_run(args, run, head, seed, folders["train"])
            scored = reheaded(run / "last.pt", head, args.model)
            for split in SPLITS:
                result = evaluate_shards(scored, folders[split], batch=4, flow="gt")
                rows.append({"head": head, "seed": seed, "split": split,
                             "seconds": done[run]["seconds"], "clips": result["clips"],
                             "frame_order_pairs": result["frame_order_pairs"],
                             **{m: result[m] for m in METRICS}})
                log(f"{head} head, seed {seed}, {split}: " + ", ".join(
                    f"{m} {result[m]:.3f}" for m in METRICS))
    return rows


def trained_run(args, run: Path, head: str, seed: int, shards: Path) -> dict:
    """The summary of `run`, trained for `head` and `seed` unless --keep-runs keeps it."""
    summary = kept_run(args, run, head, seed, shards)
    if summary is None:
        if run.exists():
            shutil.rmtree(run)
        summary = lc.train(run_args(args, head, seed), shards, None, run)
        (run / "summary.json").write_text(json.dumps({"seconds": summary["seconds"]}))
    return summary


def heads(args) -> tuple[str, str]:
    """(the per-frame head `--head` names, its one-order head: `--against`, by default "global",
    or "occlusion" for "occlusion_frame"): the two heads every seed scores."""
    return args.head, args.against or GLOBAL_OF[args.head]


def kept_run(args, run: Path, head: str, seed: int, shards: Path) -> dict | None:
    """With --keep-runs, the summary ({"seconds": ..., None when not recorded}) of `run` when it
    finished the training `run_args` asks for (same head, seed, steps, batch, data, loss and
    model, last.pt at the last step); else None: it is trained (again)."""
    from oclr.checkpoint import read_checkpoint
    from oclr.config import TrainConfig

    if not (args.keep_runs and (run / "last.pt").is_file() and (run / "config.json").is_file()):
        return None
    want = run_args(args, head, seed)
    asked = TrainConfig(shards=str(shards), out=str(run), preset="tiny", model=want.model,
                        loss=want.loss)
    try:
        had = json.loads((run / "config.json").read_text())["train"]
        cfg = TrainConfig(**{k: had[k] for k in ("shards", "out", "preset", "model", "loss")})
        same = (cfg.loss_config() == asked.loss_config()
                and trained_part(had["model"]) == trained_part(want.model)
                and had["shards"] == str(shards) and had["seed"] == seed
                and had["steps"] == args.steps and had["batch"] == args.batch)
    except (ValueError, KeyError, TypeError):  # a config.json of another shape: train again
        return None
    if not same or read_checkpoint(run / "last.pt").get("step") != args.steps:
        return None
    recorded = run / "summary.json"
    log(f"kept {run} (finished: {args.steps} steps)")
    return json.loads(recorded.read_text()) if recorded.is_file() else {"seconds": None}


def trained_part(model: dict) -> dict:
    """ModelConfig overrides without READOUT_FIELDS, which change what is read off a trained
    network but not the training."""
    return {k: v for k, v in model.items() if k not in READOUT_FIELDS}


def reheaded(checkpoint: Path, head: str, model: dict):
    """The network of `checkpoint` read as the name `head` says (READINGS: the order head and
    readout it is scored with; a parameter-free head can replace the trained one, the weights
    are the same) and with the other READOUT_FIELDS of the overrides `model`, whatever the run
    was trained with."""
    import dataclasses

    from oclr.checkpoint import build_with_weights, read_weights

    config, weights, _ = read_weights(checkpoint)
    _, order_head, readout = READINGS[head]
    fields = {k: model[k] for k in READOUT_FIELDS if k in model}
    fields.update(order_head=order_head, order_readout=readout)
    return build_with_weights(dataclasses.replace(config, **fields), weights, checkpoint).eval()


def means(rows: list[dict], names: tuple[str, str]) -> dict[str, dict[str, dict[str, float]]]:
    """{split: {head: {metric: mean over seeds}}} for the heads `names`."""
    out: dict = {}
    for split in SPLITS:
        for head in names:
            mine = [r for r in rows if r["split"] == split and r["head"] == head]
            out.setdefault(split, {})[head] = {m: sum(r[m] for r in mine) / len(mine)
                                               for m in METRICS}
    return out


def verdicts(mean: dict, head: str = "frame", one: str | None = None) -> dict[str, dict]:
    """The issue's tests on the means: the gain of the per-frame head `head` over the one-order
    head `one` (default GLOBAL_OF[head])."""
    re, st = mean["reorder"], mean["still"]
    one = one or GLOBAL_OF[head]
    gain = re[head]["frame_order_acc"] - re[one]["frame_order_acc"]
    modal = re[head]["modal_j"] - re[one]["modal_j"]
    still = max(abs(st[head][m] - st[one][m]) for m in ("modal_j", "amodal_j"))
    return {"frame_order_gain": {"value": gain, "met": gain >= TARGETS["frame_order_gain"]},
            "modal_gain": {"value": modal, "met": modal > TARGETS["modal_gain"]},
            "still_within": {"value": still, "met": still <= TARGETS["still_within"]}}


def table(rows: list[dict], mean: dict) -> str:
    """One line per run, then the means over seeds of each head and split."""
    head = f"{'head':<14} {'seed':>4} {'split':<8} {'frame ord':>9} {'order':>6} {'modal J':>8} " \
           f"{'amodal J':>8}"
    lines = [head]
    for r in rows:
        lines.append(f"{r['head']:<14} {r['seed']:>4} {r['split']:<8} " + _cells(r))
    for split in SPLITS:
        for h in mean[split]:
            lines.append(f"{h:<14} {'mean':>4} {split:<8} " + _cells(mean[split][h]))
    return "\n".join(lines)


def _cells(r: dict) -> str:
    widths = (9, 6, 8, 8)
    return " ".join(f"{r[m]:>{w}.3f}" for m, w in zip(METRICS, widths, strict=True))


def log(message: str) -> None:
    print(f"order-change: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    from layersynth.report import emit_json

    args = parse_args(argv)
    args.loss = lc.checked_overrides([*lc.LOSS.items(), *args.loss], "loss")
    args.model = lc.checked_overrides([*lc.MODEL.items(), *args.model], "model")
    work = Path(args.out)
    if args.fresh and work.exists():
        shutil.rmtree(work)
    folders = make_data(args, work / "data")
    rows = train_and_score(args, folders, work / "runs")
    mean = means(rows, heads(args))
    met = verdicts(mean, *heads(args))
    print(table(rows, mean))
    print("; ".join(f"{name} {v['value']:+.3f} ({'met' if v['met'] else 'NOT met'}, target "
                    f"{TARGETS[name]})" for name, v in met.items()))
    emit_json({"steps": args.steps, "seeds": args.seeds, "first_seed": args.first_seed,
               "train": args.train, "val": args.val,
               "head": args.head, "against": heads(args)[1],
               "order_changes": args.order_changes, "crossing": not args.apart,
               "loss": args.loss, "model": args.model, "runs": rows, "means": mean,
               "verdicts": met, "targets": TARGETS,
               "passed": all(v["met"] for v in met.values())})
    return 0


if __name__ == "__main__":
    sys.exit(main())
