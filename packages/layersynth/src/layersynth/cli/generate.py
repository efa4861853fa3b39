"""`layersynth generate`: N sequences into HDF5 shards, parallel and resumable."""

from __future__ import annotations

import os
from pathlib import Path

from layersynth.errors import UsageError

NAME = "generate"
HELP = "render N sequences into HDF5 shards with manifest.json and DATASET.md (resumable)"


def add_arguments(p) -> None:
    p.add_argument("--n", type=int, required=True, help="number of sequences")
    p.add_argument("--out", required=True, help="output folder (re-run the same command to resume)")
    p.add_argument("--preset", default="oclr", choices=["oclr", "syn-val", "tiny"])
    p.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    p.add_argument("--workers", type=int, default=None, help="local processes (default: cores)")
    p.add_argument("--scheduler", help="address of an existing Dask scheduler (tcp://HOST:8786)")
    p.add_argument("--frames", type=int, help="frames per sequence (T)")
    p.add_argument("--size", help="frame size HxW, e.g. 128x224")
    p.add_argument("--objects", help="object counts drawn in equal parts, e.g. 1,2,3")
    p.add_argument("--occlusion", help="hidden fraction of object area LO:HI, e.g. 0.2:0.5")
    p.add_argument("--flow", default="gt", help="flows to store: gt (always), dis, raft")
    p.add_argument("--raft-weights", help="local RAFT checkpoint for --flow raft")
    p.add_argument("--device", default="cpu", help="device of the flow estimators (cpu, cuda)")
    p.add_argument("--shard-size", type=int, help="sequences per shard (default by preset)")
    for kind in ("textures", "silhouettes", "backgrounds"):
        p.add_argument(f"--{kind}", metavar="DIR", help=f"folder of {kind} (default: built-in)")
    p.add_argument("--json", metavar="FILE", help="also write the summary JSON here")


def parse_size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"--size {text}: expected HxW, e.g. 128x224") from None
    if h < 16 or w < 16:
        raise UsageError(f"--size {text}: height and width must be at least 16")
    return h, w


def parse_objects(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--objects {text}: expected counts like 1,2,3") from None
    if any(c < 1 for c in counts):
        raise UsageError(f"--objects {text}: counts must be >= 1")
    return counts


def parse_occlusion(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(":"))
    except ValueError:
        raise UsageError(f"--occlusion {text}: expected LO:HI, e.g. 0.2:0.5") from None
    if not 0.0 <= lo <= hi <= 1.0:
        raise UsageError(f"--occlusion {text}: need 0 <= LO <= HI <= 1")
    return lo, hi


def parse_flow(text: str) -> tuple[str, ...]:
    from layersynth.pipeline.generation import FLOW_METHODS

    methods = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in methods if m not in FLOW_METHODS]
    if bad:
        raise UsageError(f"--flow {text}: unknown method {bad[0]!r}; choose from gt, dis, raft")
    rest = [m for m in FLOW_METHODS[1:] if m in methods]
    return ("gt", *rest)  # exact flow is always stored


def scene_overrides(args) -> dict:
    overrides = {}
    if args.frames is not None:
        overrides["frames"] = args.frames
    if args.size:
        overrides["height"], overrides["width"] = parse_size(args.size)
    if args.objects:
        overrides["objects"] = parse_objects(args.objects)
    if args.occlusion:
        overrides["occlusion"] = parse_occlusion(args.occlusion)
    return overrides


def asset_dirs(args) -> dict:
    dirs = {}
    for kind in ("textures", "silhouettes", "backgrounds"):
        value = getattr(args, kind)
        if value and not Path(value).is_dir():
            raise UsageError(f"--{kind} {value}: no such folder")
        dirs[kind] = str(Path(value).resolve()) if value else None
    return dirs


def raft_weights(args, flow: tuple[str, ...]) -> dict | None:
    if args.raft_weights is None:
        return None
    path = Path(args.raft_weights)
    if "raft" not in flow:
        raise UsageError("--raft-weights is only used with --flow ...,raft")
    if not path.is_file():
        raise UsageError(f"--raft-weights {path}: no such file")
    from layersynth.store.manifest import sha256_file

    return {"path": str(path.resolve()), "sha256": sha256_file(path)}


def build_settings(args):
    """Settings from the options; UsageError before any work for every bad value."""
    from layersynth.pipeline.generation import build_estimator, make_settings

    if args.n < 1:
        raise UsageError(f"--n {args.n}: must be at least 1")
    if args.seed < 0:
        raise UsageError(f"--seed {args.seed}: must be >= 0")
    if args.shard_size is not None and args.shard_size < 1:
        raise UsageError(f"--shard-size {args.shard_size}: must be at least 1")
    flow = parse_flow(args.flow)
    settings = make_settings(
        preset=args.preset, seed=args.seed, shard_size=args.shard_size, flow=flow,
        raft_weights=raft_weights(args, flow), asset_dirs=asset_dirs(args),
        **scene_overrides(args))
    for method in flow[1:]:  # fail now, not in a worker: a missing module or checkpoint
        build_estimator(method, settings, args.device)
    return settings


def workers(args) -> int:
    if args.workers is None:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if args.workers < 1:
        raise UsageError(f"--workers {args.workers}: must be at least 1")
    return args.workers


def run(args) -> int:
    from layersynth.pipeline.generation import connect, generate
    from layersynth.report import emit_json

    n_workers, settings = workers(args), build_settings(args)
    if args.scheduler:
        connect(args.scheduler).close()  # unreachable scheduler: refuse before any work
    summary = generate(settings, n=args.n, out=args.out, workers=n_workers,
                       scheduler=args.scheduler, device=args.device)
    print_summary(summary)
    emit_json(summary, args.json)
    return 0


def print_summary(s: dict) -> None:
    runner = f"dask {s['scheduler']}" if s["scheduler"] else f"{s['workers']} worker(s)"
    fps = s["frames_per_second"]
    print(f"dataset        {s['out']}")
    print(f"sequences      {s['sequences']} ({s['made']} made, {s['kept']} kept)")
    print(f"shards         {s['shards']}")
    per_seq = s["bytes_per_sequence"] / 1e6
    print(f"size           {s['bytes'] / 1e6:.1f} MB ({per_seq:.2f} MB/sequence)")
    print(f"time           {s['seconds']:.1f} s on {runner}"
          + (f", {fps:.0f} frames/s" if fps else ""))
