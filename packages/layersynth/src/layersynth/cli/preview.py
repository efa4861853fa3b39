"""`layersynth preview DIR --seq ID --out FILE`: .png contact sheet, .gif or .mp4 animation."""

from __future__ import annotations

NAME = "preview"
HELP = "picture of one sequence: .png contact sheet, .gif or .mp4 (rgb, flow, modal, amodal)"


def add_arguments(p) -> None:
    p.add_argument("dir", help="dataset folder (with manifest.json)")
    p.add_argument("--seq", required=True, help="sequence id, e.g. 000017")
    p.add_argument("--out", required=True, help="output file: .png, .gif or .mp4")
    p.add_argument("--fps", type=int, default=10, help="frames per second of animations")


def run(args) -> int:
    from pathlib import Path

    from layersynth.errors import UsageError
    from layersynth.store.reader import open_dataset
    from layersynth.viz.preview import FORMATS, write_preview

    if Path(args.out).suffix.lower() not in FORMATS:
        raise UsageError(f"--out {args.out}: use a .png, .gif or .mp4 file name")
    if args.fps < 1:
        raise UsageError(f"--fps {args.fps}: must be at least 1")
    with open_dataset(args.dir) as ds:
        if args.seq not in ds:
            raise UsageError(f"--seq {args.seq}: no such sequence in {args.dir} "
                             f"(ids {ds.ids[0]} .. {ds.ids[-1]})" if len(ds) else "(empty)")
        arrays = ds[args.seq]
    print(write_preview(arrays, args.out, fps=args.fps))
    return 0
