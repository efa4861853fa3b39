"""`layersynth export DIR --format oclr --out DIR2`: the released OCLR data layout."""

from __future__ import annotations

NAME = "export"
HELP = "write the layout of the released OCLR data (JPEG, amodal PNG, .flo)"


def add_arguments(p) -> None:
    p.add_argument("dir", help="dataset folder (with manifest.json)")
    p.add_argument("--format", required=True, choices=["oclr"], help="target layout")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--flow", default="gt", help="flow for Flows_gap*: gt (default), dis, raft")
    p.add_argument("--seq", action="append", help="export only this sequence id (repeatable)")


def run(args) -> int:
    from layersynth.errors import UsageError
    from layersynth.store.oclr_export import export_oclr
    from layersynth.store.reader import open_dataset

    with open_dataset(args.dir) as ds:
        if args.flow not in ds.flow_methods:
            raise UsageError(f"--flow {args.flow}: {args.dir} holds flows "
                             f"{', '.join(ds.flow_methods)}")
        unknown = [i for i in args.seq or [] if i not in ds]
        if unknown:
            raise UsageError(f"--seq {unknown[0]}: no such sequence in {args.dir}")
        try:
            names = export_oclr(ds, args.out, flow=args.flow, ids=args.seq, show_progress=True)
        except ValueError as err:
            raise UsageError(str(err)) from err
    print(f"exported {len(names)} sequences to {args.out}")
    return 0
