"""`layersynth flow DIR --method {raft,dis}`: add estimated flow to existing shards, in place.

Atomic per shard and resumable (re-run the same command after an interruption: finished shards
are skipped); see `layersynth.estimators.inplace`. RAFT runs in batches of frame pairs taken
across sequences, on `--device` (CUDA with fp16 autocast, `--precision`). Prints a table,
then one JSON object last on stdout.
"""

from __future__ import annotations

NAME = "flow"
HELP = "add estimated optical flow (raft or dis) to existing shards, in place and resumable"


def add_arguments(p) -> None:
    p.add_argument("dir", help="dataset folder (with manifest.json)")
    p.add_argument("--method", required=True, choices=["raft", "dis"], help="flow estimator")
    p.add_argument("--raft-weights", metavar="PATH",
                   help="RAFT checkpoint (default: raft-things-802bbcfd.ckpt in the torch cache)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (raft; dis is CPU only)")
    p.add_argument("--batch", type=int, default=None,
                   help="frame pairs per RAFT forward pass (default: 8 on the CPU, 64 on CUDA)")
    p.add_argument("--iters", type=int, default=None,
                   help="RAFT refinement iterations (default 20, the paper's)")
    p.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp16", "fp32"],
                   help="CUDA autocast (auto = fp16; an overflowing batch is redone in fp32); "
                        "the CPU runs fp32")
    p.add_argument("--part", default="0/1", metavar="I/N",
                   help="only shards with index = I mod N (one process per GPU)")
    p.add_argument("--json", metavar="FILE", help="also write the JSON here")


def parse_part(text: str) -> tuple[int, int]:
    from layersynth.errors import UsageError

    i, _, n = text.partition("/")
    if not (i.isdigit() and n.isdigit()) or not 0 <= int(i) < int(n):
        raise UsageError(f"--part {text!r}: expected I/N with 0 <= I < N, e.g. 0/4")
    return int(i), int(n)


def print_table(r: dict, options: str) -> None:
    rate = f"{r['pairs_per_s']:.1f} pairs/s" if r["pairs_per_s"] else "-"
    print(f"method     {r['method']} ({options}) -> {r['array']}")
    print(f"shards     {r['written']} written, {r['skipped']} already complete, of {r['shards']}")
    print(f"sequences  {r['sequences']} ({r['pairs']} frame pairs) in {r['seconds']:.1f} s, {rate}")


def run(args) -> int:
    from pathlib import Path

    from layersynth.estimators import build_estimator
    from layersynth.estimators.inplace import add_estimated_flow
    from layersynth.report import emit_json, progress
    from layersynth.store import manifest

    part = parse_part(args.part)
    manifest.load(args.dir)  # a bad folder fails before the estimator (seconds for RAFT) loads
    batch = args.batch
    if batch is None:  # big batches keep a GPU busy; on the CPU they only cost memory
        batch = 64 if args.device.startswith("cuda") else 8
    est = build_estimator(args.method, raft_weights=args.raft_weights, device=args.device,
                          batch=batch, iters=args.iters, precision=args.precision)
    report = add_estimated_flow(Path(args.dir), est, part=part,
                                progress=lambda items, n: progress(items, n, f"flow {args.method}"))
    result = dict(report.to_dict(), options=estimator_options(est), part=args.part)
    manifest.record_estimator(args.dir, args.method, result["options"])
    print_table(result, ", ".join(f"{k} {v}" for k, v in result["options"].items()))
    emit_json(result, args.json)
    return 0


def estimator_options(est) -> dict:
    """The settings that shape the estimated flow (what a dataset card should record)."""
    from layersynth.estimators.raft import resolve_weights
    from layersynth.store.manifest import sha256_file

    cfg = est.cfg
    if est.name == "dis":
        return {"preset": cfg.preset}
    weights = resolve_weights(cfg.weights)
    return {"weights": str(weights), "weights_sha256": sha256_file(weights)[:16],
            "iters": cfg.iters, "device": cfg.device, "batch": cfg.batch,
            "precision": est.autocast or "float32"}
