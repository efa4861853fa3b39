"""`oclr-train --shards DIR [--out RUN]`: train OCLR on layersynth shards (also under torchrun).

Parses the options into an `oclr.runfolder.RunRequest`, which `train_config` turns into the run's
TrainConfig (RUN defaults to runs/<preset>; a folder holding a run is refused unless --resume;
a resumed run keeps the settings that change what is learnt), and calls `oclr.engine.train`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import click
from layersynth.cli.conventions import CONTEXT, AtLeast, OneLineCommand, run_command
from layersynth.errors import UsageError
from layersynth.report import emit_json, warn

from oclr.cli_types import IntBetween, Number

PROG = "oclr-train"

# --bf16 -> TrainConfig.bf16 (precision is a run-time choice, like --device: a resume may change it)
BF16 = {"auto": None, "on": True, "off": False}
MAX_WORKERS_PER_CORE = 4  # DataLoader workers beyond this only add processes that wait


def field_value(text: str) -> tuple[str, object]:
    """"FIELD=VALUE" -> (field, value); VALUE is read as JSON when it parses ("15", "[8,16]",
    "0.1"), else kept as text. ValueError when there is no FIELD=."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ValueError(f"expected FIELD=VALUE, got {text!r}")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


class FieldValue(click.ParamType):
    """A --model / --loss override: FIELD=VALUE, read by `field_value`."""

    name = "FIELD=VALUE"

    def convert(self, value, param, ctx) -> tuple[str, object]:
        if isinstance(value, tuple):
            return value
        try:
            return field_value(value)
        except ValueError as err:
            self.fail(str(err), param, ctx)


def train(**options) -> int:
    """The command's body: the options as click parsed them."""
    # oclr.runfolder and oclr.engine import torch: only once the command runs, never for --help
    from oclr.data import best_flow
    from oclr.distributed import from_env
    from oclr.engine import train as run_training
    from oclr.outputs import check_output_file, reported_os_errors
    from oclr.runfolder import RunRequest, hold_run, train_config

    json_path, init = options.pop("json"), options.pop("init")
    check_output_file(json_path, "--json")
    options["workers"] = capped_workers(options["workers"])
    init_kind = None
    if init is not None:
        options["model"], init_kind = init_fields(init, options)
    flow_defaulted = options["flow"] is None and not options["resume"]
    if flow_defaulted:
        options["flow"] = best_flow(options["shards"], options["val_shards"])
    cfg = train_config(RunRequest(**request_fields(options)))
    cfg = dataclasses.replace(cfg, init=init) if init is not None else cfg
    if from_env().is_main:
        say_inputs(cfg, options["out"] is None, flow_defaulted, init_kind)
    with reported_os_errors(cfg.out), hold_run(cfg):
        try:
            summary = run_training(cfg)
        except (FileNotFoundError, ValueError) as err:  # a library check not worded as input
            raise UsageError(str(err)) from err
    if summary.get("rank", 0) == 0:
        print(f"trained to step {summary['step']} in {summary['seconds']:.0f} s, last loss "
              f"{summary['loss']:.4f}; checkpoint {Path(cfg.out) / 'last.pt'}")
        with reported_os_errors(json_path or "stdout"):
            emit_json(summary, json_path)
    return 0


def init_fields(init: str, options: dict) -> tuple[tuple, str]:
    """--init PATH: (the --model pairs that make PATH's network, the user's own pairs last;
    PATH's format, "oclr" or "reference")."""
    from oclr.trainer import init_model_fields

    if options["resume"]:
        raise UsageError(f"--init {init}: a resumed run continues from RUN/last.pt; --init starts "
                         "a fresh run from a checkpoint's weights: give one of them")
    fields, kind = init_model_fields(init, options["preset"] or "oclr", dict(options["model"]))
    return tuple(fields.items()), kind


def say_inputs(cfg, out_defaulted: bool, flow_defaulted: bool, init_kind: str | None) -> None:
    """What the run starts from and trains on, on stderr (rank 0): the run folder when it was not
    given, the checkpoint of --init, and the flow when --flow was not given."""
    if out_defaulted:
        verb = "continuing the run in" if cfg.resume else "writing the run to"
        print(f"{PROG}: {verb} {cfg.out}", file=sys.stderr, flush=True)
    if cfg.init is not None:
        kind = "the reference code's" if init_kind == "reference" else "an oclr"
        print(f"{PROG}: starting from the weights of {cfg.init} ({kind} checkpoint)",
              file=sys.stderr, flush=True)
    if not flow_defaulted:
        return
    if cfg.flow == "gt":
        where = " and ".join(str(p) for p in (cfg.shards, cfg.val_shards) if p is not None)
        warn(f"--flow: no estimated flow (raft, dis) in {where}, so the run trains on the "
             "ground-truth flow; real video only ever gives estimated flow, and a model trained "
             f"on exact flow scores far lower on it: add DIS with `layersynth flow {cfg.shards} "
             "--method dis` (the same for --val-shards), or pass --flow gt to train on ground "
             "truth without this warning")
    else:
        print(f"{PROG}: training on the '{cfg.flow}' flow, the best estimated flow the shards "
              "hold (--flow gt for the ground truth)", file=sys.stderr, flush=True)


def capped_workers(workers: int) -> int:
    """--workers, at most MAX_WORKERS_PER_CORE x the cores (each worker is a process holding its
    own copy of the shard readers), with a warning when capped (rank 0's only)."""
    cores = os.cpu_count() or 1
    cap = MAX_WORKERS_PER_CORE * cores
    if workers <= cap:
        return workers
    if os.environ.get("RANK", "0") == "0":
        warn(f"--workers {workers}: more than {MAX_WORKERS_PER_CORE} per core on {cores} "
             f"core(s); using {cap}")
    return cap


def request_fields(options: dict) -> dict:
    """The parsed options as `oclr.runfolder.RunRequest` fields (named as TrainConfig's)."""
    given = dict(options)
    given["max_seconds"] = given.pop("time_budget")
    given["bf16"] = BF16[given["bf16"]]
    given["model"] = dict(given["model"]) or None
    given["loss"] = dict(given["loss"]) or None
    return given


def _option(name: str, metavar: str | None = None, **settings) -> click.Option:
    """An option whose metavar is, as argparse showed it, its name in capitals."""
    if metavar is None and not settings.get("is_flag"):
        metavar = name.lstrip("-").replace("-", "_").upper()
    return click.Option([name], metavar=metavar, **settings)


command = OneLineCommand(
    PROG,
    callback=train,
    context_settings=CONTEXT,
    help="Train the OCLR model on layersynth shards.",
    params=[
        _option("--shards", required=True, help="training set folder (layersynth generate)"),
        _option("--out", help="run folder: checkpoints, metrics, config (default runs/<preset>; "
                "a folder holding a run is refused unless --resume)"),
        _option("--val-shards", help="Syn-val folder, scored every --val-every steps"),
        _option("--preset", "{oclr,tiny}", type=click.Choice(("oclr", "tiny")),
                help="model preset (default oclr)"),
        _option("--model", "FIELD=VALUE", type=FieldValue(), multiple=True,
                help="override a field of the preset's ModelConfig (repeatable), e.g. frames=15"),
        _option("--loss", "FIELD=VALUE", type=FieldValue(), multiple=True,
                help="override a LossConfig field (repeatable), e.g. dice_weight=0 for the "
                "paper's loss with the tiny preset"),
        _option("--steps", type=AtLeast(1), help="optimiser steps in all (default 600000)"),
        _option("--batch", type=AtLeast(1), help="clips per step and per process (default 2)"),
        _option("--lr", type=Number(0.0), help="base Adam rate (default: 5e-5 oclr, 1e-3 tiny)"),
        _option("--warmup", type=AtLeast(1), help="warm-up steps (default: 40k x steps / 600k)"),
        _option("--halve-every", type=AtLeast(1),
                help="steps between halvings of the rate (default: 80k x steps / 600k)"),
        _option("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)"),
        _option("--flow", "{gt,raft,dis}", type=click.Choice(("gt", "raft", "dis")),
                help="input flow (default: the best estimated flow the shards hold, raft, else "
                "dis, else gt with a warning)"),
        _option("--init", metavar="CKPT",
                help="start a fresh run from this checkpoint's weights (an oclr-train checkpoint "
                "or the reference code's released one)"),
        _option("--workers", type=AtLeast(0), default=2,
                help=f"DataLoader workers per process (at most {MAX_WORKERS_PER_CORE} per core)"),
        _option("--threads", type=AtLeast(1), help="torch CPU threads per process"),
        _option("--bf16", "{auto,on,off}", type=click.Choice(tuple(BF16)), default="auto",
                help="bf16 autocast of the forward pass (auto: on CUDA only; 'on' also speeds "
                "up CPUs with AMX, as `make learning-check` measures)"),
        _option("--resume", is_flag=True, help="continue from RUN/last.pt"),
        _option("--val-every", type=AtLeast(1),
                help="steps between validations (default steps/10)"),
        _option("--ckpt-every", type=AtLeast(1), help="steps between RUN/last.pt writes"),
        _option("--keep-every", type=AtLeast(1), help="steps between kept RUN/step-N.pt"),
        _option("--val-limit", type=AtLeast(1), help="validate on the first N clips only"),
        _option("--time-budget", type=Number(0.0, or_equal=True),
                help="stop (and save) after this many seconds"),
        _option("--seed", type=IntBetween(0, 2**32 - 1),
                help="seed of the weights and the data order (default 0)"),
        _option("--json", help="also write the final summary JSON to this file"),
    ],
)


def main(argv: list[str] | None = None) -> int:
    return run_command(command, argv, prog=PROG)


if __name__ == "__main__":
    sys.exit(main())
