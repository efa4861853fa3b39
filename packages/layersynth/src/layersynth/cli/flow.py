"""`layersynth flow DIR --method {raft,dis}`: add estimated flow to existing shards, in place.

Atomic per shard and resumable (re-run the same command after an interruption: finished shards
are skipped); see `layersynth.estimators.inplace`. Every flow gap the dataset stores is estimated
(pairs (t, t+g) and (t, t-g) for each gap g, `Dataset.gaps`), so flow_<method> holds the same
gaps as flow_gt. RAFT runs in batches of frame pairs taken
across sequences, on `--device` (CUDA with fp16 autocast, `--precision`). Prints a table,
then one JSON object last on stdout.

Refused before any estimator loads: a bad manifest, clips the method cannot take (T < 2, or under
2g frames for a stored gap g, frames under DIS's smallest size), an unknown --device (even for
DIS, which ignores it), --batch or --iters under 1, --raft-weights without --method raft, a
--json FILE that cannot be written.
"""

from __future__ import annotations

from pathlib import Path

import click

from layersynth.cli.conventions import (
    CONTEXT,
    AtLeast,
    OneLineCommand,
    OutputFile,
    Parsed,
    emit_result,
)
from layersynth.errors import UsageError
from layersynth.estimators import build_estimator, check_clip_size, parse_device
from layersynth.estimators.inplace import add_estimated_flow
from layersynth.estimators.raft import resolve_weights
from layersynth.report import progress
from layersynth.store import manifest
from layersynth.store.gaps import label
from layersynth.store.reader import open_dataset

HELP = "add estimated optical flow (raft or dis) to existing shards, in place and resumable"


def parse_part(text: str) -> tuple[int, int]:
    i, _, n = text.partition("/")
    if not (i.isdigit() and n.isdigit()) or not 0 <= int(i) < int(n):
        raise ValueError("expected I/N with 0 <= I < N, e.g. 0/4")
    return int(i), int(n)


def clip_size(root: str) -> tuple[int, int, int] | None:
    """(T, H, W) of the dataset's first sequence (a dataset has one clip size), None if empty."""
    with open_dataset(root) as ds:
        if not len(ds):
            return None
        return ds.read(ds.ids[0], ["rgb"])["rgb"].shape[:3]


def dataset_gaps(root: str) -> tuple[int, ...]:
    """The flow gaps the dataset stores (every one is estimated)."""
    with open_dataset(root) as ds:
        return ds.gaps


def check_dataset(root: str, method: str) -> None:
    """Refuse a dataset whose clips `method` cannot estimate flow on, naming it and the size, and
    RAFT on an imported dataset, whose flow_raft is the source's own (its provenance would be
    lost)."""
    with open_dataset(root) as ds:
        source = ds.imported_from
    if source is not None and method == "raft":
        raise UsageError(f"{root}: --method raft: this dataset was imported from {source}, its "
                         "flow_raft is the source's own flow and stays as it is; add another "
                         "estimate with --method dis")
    size = clip_size(root)
    if size is not None:
        try:
            check_clip_size(method, *size, gaps=dataset_gaps(root))
        except UsageError as err:
            raise UsageError(f"{root}: {err}") from None


def print_table(r: dict, options: str) -> None:
    rate = f"{r['pairs_per_s']:.1f} pairs/s" if r["pairs_per_s"] else "-"
    print(f"method     {r['method']} ({options}) -> {r['array']} at gaps {label(r['gaps'])}")
    print(f"shards     {r['written']} written, {r['skipped']} already complete, of {r['shards']}")
    print(f"sequences  {r['sequences']} ({r['pairs']} frame pairs) in {r['seconds']:.1f} s, {rate}")


@click.command("flow", cls=OneLineCommand, context_settings=CONTEXT, help=HELP, short_help=HELP)
@click.argument("root", metavar="DIR", help="dataset folder (with manifest.json)")
@click.option("--method", required=True, type=click.Choice(["raft", "dis"]),
              metavar="{raft,dis}", help="flow estimator")
@click.option("--raft-weights", metavar="PATH",
              help="RAFT checkpoint (default: raft-things-802bbcfd.ckpt in the torch cache)")
@click.option("--device", default="cpu", type=Parsed(parse_device), metavar="DEVICE",
              help="cpu, cuda or cuda:N (raft; dis runs on the CPU whatever it is, but an "
                   "unknown name is refused all the same)")
@click.option("--batch", type=AtLeast(1), default=None, metavar="BATCH",
              help="frame pairs per RAFT forward pass (default: 8 on the CPU, 64 on CUDA)")
@click.option("--iters", type=AtLeast(1), default=None, metavar="ITERS",
              help="RAFT refinement iterations (default 20, the paper's)")
@click.option("--precision", default="auto", type=click.Choice(["auto", "bf16", "fp16", "fp32"]),
              metavar="{auto,bf16,fp16,fp32}",
              help="CUDA autocast (auto = fp16; an overflowing batch is redone in fp32); "
                   "the CPU runs fp32")
@click.option("--part", type=Parsed(parse_part), default="0/1", metavar="I/N",
              help="only shards with index = I mod N (one process per GPU)")
@click.option("--json", "json_file", type=OutputFile(), metavar="FILE",
              help="also write the JSON here")
def command(*, root: str, method: str, raft_weights: str | None, device: str, batch: int | None,
            iters: int | None, precision: str, part: tuple[int, int],
            json_file: str | None) -> int:
    if raft_weights is not None and method != "raft":
        raise UsageError("--raft-weights is only used with --method raft")
    check_dataset(root, method)  # a bad folder fails before the estimator (seconds for RAFT) loads
    if batch is None:  # big batches keep a GPU busy; on the CPU they only cost memory
        batch = 64 if device.startswith("cuda") else 8
    est = build_estimator(method, raft_weights=raft_weights, device=device, batch=batch,
                          iters=iters, precision=precision)
    report = add_estimated_flow(Path(root), est, part=part,
                                progress=lambda items, n: progress(items, n, f"flow {method}"))
    result = dict(report.to_dict(), options=estimator_options(est), part="/".join(map(str, part)),
                  gaps=list(dataset_gaps(root)))
    manifest.record_estimator(root, method, result["options"])
    print_table(result, ", ".join(f"{k} {v}" for k, v in result["options"].items()))
    emit_result(result, json_file)
    return 0


def estimator_options(est) -> dict:
    """The settings that shape the estimated flow (what a dataset card should record)."""
    cfg = est.cfg
    if est.name == "dis":
        return {"preset": cfg.preset}
    weights = resolve_weights(cfg.weights)
    return {"weights": str(weights), "weights_sha256": manifest.sha256_file(weights)[:16],
            "iters": cfg.iters, "device": cfg.device, "batch": cfg.batch,
            "precision": est.autocast or "float32"}
