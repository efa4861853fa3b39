"""`oclr-train --shards DIR --out RUN`: train OCLR on layersynth shards (also under torchrun).

Builds a TrainConfig from the options and calls `oclr.engine.train`; nothing else. A resumed run
(`--resume`) takes its settings from RUN/last.pt; options that change what is learnt (preset, flow,
batch, lr, seed, shards) must then match or be left out, while --steps may grow and the rest
(device, workers, periods, budget) may change.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from layersynth.cli.conventions import OneLineParser, run_main
from layersynth.errors import UsageError
from layersynth.report import emit_json

PROG = "oclr-train"
CONTENT_OPTIONS = ("shards", "preset", "model", "loss", "flow", "batch", "lr", "seed", "warmup",
                   "halve_every")


# --bf16 -> TrainConfig.bf16 (precision is a run-time choice, like --device: a resume may change it)
BF16 = {"auto": None, "on": True, "off": False}

def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog=PROG, description="Train the OCLR model on layersynth shards.")
    p.add_argument("--shards", required=True, help="training set folder (layersynth generate)")
    p.add_argument("--out", required=True, help="run folder: checkpoints, metrics, config")
    p.add_argument("--val-shards", help="Syn-val folder, scored every --val-every steps")
    p.add_argument("--preset", choices=("oclr", "tiny"), help="model preset (default oclr)")
    p.add_argument("--model", action="append", metavar="FIELD=VALUE", type=field_value,
                   help="override a field of the preset's ModelConfig (repeatable), e.g. frames=15")
    p.add_argument("--loss", action="append", metavar="FIELD=VALUE", type=field_value,
                   help="override a LossConfig field (repeatable), e.g. dice_weight=0 for the "
                   "paper's loss with the tiny preset")
    p.add_argument("--steps", type=int, help="optimiser steps in all (default 600000)")
    p.add_argument("--batch", type=int, help="clips per step and per process (default 2)")
    p.add_argument("--lr", type=float, help="base Adam rate (default: 5e-5 oclr, 1e-3 tiny)")
    p.add_argument("--warmup", type=int, help="warm-up steps (default: 40k x steps / 600k)")
    p.add_argument("--halve-every", type=int,
                   help="steps between halvings of the rate (default: 80k x steps / 600k)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--flow", choices=("gt", "raft", "dis"), help="input flow (default gt)")
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers per process")
    p.add_argument("--threads", type=int, help="torch CPU threads per process")
    p.add_argument("--bf16", choices=tuple(BF16), default="auto",
                   help="bf16 autocast of the forward pass (auto: on CUDA only; 'on' also speeds "
                   "up CPUs with AMX, as `make learning-check` measures)")
    p.add_argument("--resume", action="store_true", help="continue from RUN/last.pt")
    p.add_argument("--val-every", type=int, help="steps between validations (default steps/10)")
    p.add_argument("--ckpt-every", type=int, help="steps between RUN/last.pt writes")
    p.add_argument("--keep-every", type=int, help="steps between kept RUN/step-N.pt")
    p.add_argument("--val-limit", type=int, help="validate on the first N clips only")
    p.add_argument("--time-budget", type=float, help="stop (and save) after this many seconds")
    p.add_argument("--seed", type=int, help="seed of the weights and the data order (default 0)")
    p.add_argument("--json", help="also write the final summary JSON to this file")
    return p


def field_value(text: str) -> tuple[str, object]:
    """"FIELD=VALUE" -> (field, value); VALUE is read as JSON when it parses ("15", "[8,16]",
    "0.1"), else kept as text."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected FIELD=VALUE, got {text!r}")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def content_settings(args: argparse.Namespace) -> dict:
    """The options that define what is learnt, as given (None = not given)."""
    out = {name: getattr(args, name) for name in CONTENT_OPTIONS}
    out["model"] = dict(args.model) if args.model else None
    out["loss"] = dict(args.loss) if args.loss else None
    return out


def resumed_config(args: argparse.Namespace, out: Path):
    """The stored run's TrainConfig, with the options a resume may change taken from `args`."""
    from oclr.checkpoint import read_checkpoint
    from oclr.config import TrainConfig

    ckpt = out / "last.pt"
    if not ckpt.is_file():
        raise UsageError(f"{ckpt}: no checkpoint to resume from (drop --resume to start afresh)")
    try:
        stored = dict(read_checkpoint(ckpt)["train_config"])
    except (ValueError, KeyError) as err:
        raise UsageError(f"{ckpt}: cannot resume: {err}") from err
    for name, given in content_settings(args).items():
        if name == "loss" and given is not None:  # a resume may restate some fields
            given = {**stored.get("loss", {}), **given}
        if given is not None and given != stored.get(name):
            raise UsageError(f"{ckpt}: --{name.replace('_', '-')} {given} differs from the run's "
                             f"{stored.get(name)}; a resumed run keeps its settings")
    stored.update(changeable(args), out=str(out), resume=True)
    return TrainConfig(**stored)


def changeable(args: argparse.Namespace) -> dict:
    """Options a resume may change, where given."""
    out = {"device": args.device, "workers": args.workers, "max_seconds": args.time_budget,
           "threads": args.threads, "bf16": BF16[args.bf16]}
    for name in ("steps", "val_shards", "val_every", "ckpt_every", "keep_every", "val_limit"):
        if getattr(args, name) is not None:
            out[name] = getattr(args, name)
    return out


def fresh_config(args: argparse.Namespace, out: Path):
    from oclr.config import TrainConfig

    if (out / "last.pt").exists():
        raise UsageError(f"{out / 'last.pt'}: a run is already there; pass --resume to continue "
                         "it or choose another --out")
    given = {k: v for k, v in content_settings(args).items() if v is not None}
    for name in ("steps", "val_shards", "val_every", "ckpt_every", "keep_every", "val_limit"):
        if getattr(args, name) is not None:
            given[name] = getattr(args, name)
    return TrainConfig(out=str(out), device=args.device, workers=args.workers,
                       max_seconds=args.time_budget, threads=args.threads,
                       bf16=BF16[args.bf16], **given)


def check_inputs(cfg) -> None:
    for name in ("shards", "val_shards"):
        path = getattr(cfg, name)
        if path is not None and not (Path(path) / "manifest.json").is_file():
            raise UsageError(f"{path}: not a layersynth dataset folder (no manifest.json)")


def body(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    try:
        cfg = resumed_config(args, out) if args.resume else fresh_config(args, out)
    except (TypeError, ValueError) as err:
        raise UsageError(str(err)) from err
    check_inputs(cfg)
    from oclr.engine import train

    try:
        summary = train(cfg)
    except (FileNotFoundError, ValueError) as err:
        raise UsageError(str(err)) from err
    if summary.get("rank", 0) == 0:
        print(f"trained to step {summary['step']} in {summary['seconds']:.0f} s, last loss "
              f"{summary['loss']:.4f}; checkpoint {out / 'last.pt'}")
        emit_json(summary, args.json)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main(PROG, lambda: body(argv))


if __name__ == "__main__":
    sys.exit(main())
