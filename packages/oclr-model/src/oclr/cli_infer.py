"""`oclr-infer --checkpoint CKPT --frames DIR | --video FILE --out DIR`: masks for a real video.

Writes, for a video of any length:

    DIR/masks/<frame>.png       modal labels, DAVIS palette PNG: 0 background, id k + 1 = object k
    DIR/amodal/<k>_<frame>.png  amodal mask of object k (k from 0), binary 0/255 PNG
    DIR/overlay.mp4             the frames with the modal labels blended in (.gif without encoder)

Flow (DIS by default, RAFT from local weights) is estimated once and cached (`oclr.flowcache`);
the network runs in overlapping windows of its T frames and object identities are linked across
windows without ground truth (`oclr.infer`, protocol "linked"). Prints a table, then a JSON
summary last on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from layersynth.cli.conventions import OneLineParser, run_main
from layersynth.errors import UsageError
from layersynth.report import emit_json, progress

PROG = "oclr-infer"


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog=PROG, description="Segment the moving objects of a real video.")
    p.add_argument("--checkpoint", required=True, metavar="CKPT", help="a trained model")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--frames", metavar="DIR", help="folder of .jpg/.png frames (name order)")
    src.add_argument("--video", metavar="FILE", help="a video file (MP4, AVI, MOV, ...)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    add_flow_arguments(p)
    p.add_argument("--overlap", type=int, metavar="N",
                   help="frames shared by consecutive windows (default: a third of a window)")
    p.add_argument("--batch", type=int, default=1, help="windows per forward pass (default 1)")
    p.add_argument("--fps", type=float, help="overlay frame rate (default: the video's, or 24)")
    p.add_argument("--no-overlay", action="store_true", help="do not write the overlay video")
    p.add_argument("--json", metavar="FILE", help="also write the JSON summary to FILE")
    return p


def add_flow_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared with `oclr-eval`'s benchmark mode: how flow is made and cached."""
    p.add_argument("--flow", choices=("dis", "raft"), default="dis",
                   help="flow estimator (default dis; raft needs --raft-weights or cached weights)")
    p.add_argument("--raft-weights", metavar="PATH", help="local RAFT checkpoint")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (model and RAFT)")
    p.add_argument("--flow-width", type=int, metavar="W",
                   help="estimate flow on frames shrunk to W px wide (default: full resolution; "
                        "e.g. 448 makes DIS several times faster on 854-px video)")
    p.add_argument("--flow-cache", metavar="DIR",
                   help="where estimated flow is kept (default $OCLR_FLOW_CACHE or "
                        "~/.cache/oclr/flow)")
    p.add_argument("--no-flow-cache", action="store_true", help="estimate flow, store nothing")


def flow_cache_dir(args: argparse.Namespace) -> Path | None:
    from oclr.flowcache import default_cache_dir

    if args.no_flow_cache:
        return None
    return Path(args.flow_cache) if args.flow_cache else default_cache_dir()


def load_model(path: str, device: str):
    """The checkpoint's network in eval mode; UsageError naming the file when it is not one."""
    from oclr.checkpoint import load_model as _load

    try:
        return _load(path, device)
    except (FileNotFoundError, ValueError, KeyError, TypeError, RuntimeError) as err:
        message = str(err) if path in str(err) else f"--checkpoint {path}: {err}"
        raise UsageError(message) from None


def check_window_options(args: argparse.Namespace, model) -> None:
    """--batch and --overlap against the model's window length; UsageError when out of range."""
    frames = model.cfg.frames
    if args.batch < 1 or (args.overlap is not None and not 0 <= args.overlap < frames):
        raise UsageError(f"--batch must be >= 1 and --overlap in [0, {frames}) for this model")


def flow_spec(args: argparse.Namespace, model):
    from oclr.flowcache import FlowSpec

    if args.raft_weights and not Path(args.raft_weights).is_file():
        raise UsageError(f"--raft-weights {args.raft_weights}: no such file")
    try:  # FlowSpec checks the values; only --flow-width can be out of range here
        return FlowSpec(method=args.flow, height=model.cfg.height, width=model.cfg.width,
                        raft_weights=args.raft_weights, device=args.device,
                        flow_width=args.flow_width)
    except ValueError as err:
        raise UsageError(f"--flow-width {args.flow_width}: {err}") from None


def main(argv: list[str] | None = None) -> int:
    return run_main(PROG, lambda: run(build_parser().parse_args(argv)))


def run(args: argparse.Namespace) -> int:
    from oclr.video_io import MediaError

    try:
        summary = infer_to_folder(args)
    except MediaError as err:
        raise UsageError(str(err)) from None
    print(format_summary(summary))
    emit_json(summary, args.json)
    return 0


def infer_to_folder(args: argparse.Namespace) -> dict:
    """Run the whole pipeline as `args` says; returns the JSON summary."""
    from oclr.flowcache import flow_input_for
    from oclr.infer import InferConfig, infer_flow
    from oclr.video_io import open_source

    source = open_source(args.frames, args.video)
    model = load_model(args.checkpoint, args.device)
    check_window_options(args, model)
    cfg = InferConfig(overlap=args.overlap, batch=args.batch, device=args.device)
    clock = {"start": time.perf_counter()}
    flow = flow_input_for(source, flow_spec(args, model), flow_cache_dir(args))
    clock["flow"] = time.perf_counter()
    pred = infer_flow(model, flow, cfg, progress=lambda it, n: progress(it, n, "windows"))
    clock["model"] = time.perf_counter()
    overlay = write_outputs(args, source, pred)
    clock["write"] = time.perf_counter()
    return summarise(args, source, pred, overlay, clock)


def write_outputs(args: argparse.Namespace, source, pred) -> Path | None:
    from oclr.infer import save_prediction
    from oclr.video_io import open_writer

    out = Path(args.out)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    (out / "amodal").mkdir(exist_ok=True)
    writer = None if args.no_overlay else open_writer(out / "overlay.mp4", args.fps or source.fps)
    try:
        save_prediction(source, pred, out / "masks", out / "amodal", writer,
                        progress=lambda it, n: progress(it, n, "frames"))
    finally:
        if writer is not None:
            writer.close()
    return None if writer is None else writer.path


def summarise(args, source, pred, overlay: Path | None, clock: dict) -> dict:
    seconds = {
        "flow": clock["flow"] - clock["start"],
        "model": clock["model"] - clock["flow"],
        "write": clock["write"] - clock["model"],
    }
    total = clock["write"] - clock["start"]
    modal = pred.modal()
    visible = {str(k + 1): int((modal == k + 1).any(axis=(1, 2)).sum())
               for k in range(len(pred.probs))}
    return {
        "frames": len(source), "size": [source.height, source.width], "windows": len(pred.windows),
        "protocol": "linked", "flow": args.flow, "flow_width": args.flow_width,
        "out": str(args.out),
        "overlay": None if overlay is None else str(overlay),
        "frames_with_object": visible, "seconds": seconds, "total_seconds": total,
        "fps": len(source) / total if total > 0 else None,
    }  # fmt: skip


def format_summary(s: dict) -> str:
    lines = [
        f"frames   {s['frames']} ({s['size'][1]}x{s['size'][0]}), {s['windows']} windows, "
        f"identities linked across windows without ground truth",
        f"time     flow {s['seconds']['flow']:.2f} s, model {s['seconds']['model']:.2f} s, "
        f"write {s['seconds']['write']:.2f} s: {s['fps']:.2f} frames/s",
        "objects  " + ", ".join(f"id {k}: {n} frames" for k, n in s["frames_with_object"].items()),
        f"masks    {Path(s['out']) / 'masks'}/<frame>.png, amodal {Path(s['out']) / 'amodal'}",
    ]
    if s["overlay"]:
        lines.append(f"overlay  {s['overlay']}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
