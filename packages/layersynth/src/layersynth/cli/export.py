"""`layersynth export DIR --format oclr --out DIR2`: the released OCLR data layout.

DIR2 is checked before any work (not a file, writable); the export is staged beside it and moved
in at the end, so a failed run leaves nothing and an earlier export intact
(`layersynth.store.oclr_export`).
"""

from __future__ import annotations

import click

from layersynth.cli.conventions import CONTEXT, OneLineCommand, OutputFolder, os_error_line
from layersynth.errors import UsageError
from layersynth.store.oclr_export import export_oclr
from layersynth.store.reader import open_dataset

HELP = "write the layout of the released OCLR data (JPEG, amodal PNG, .flo)"


@click.command("export", cls=OneLineCommand, context_settings=CONTEXT, help=HELP,
               short_help=HELP)
@click.argument("root", metavar="DIR", help="dataset folder (with manifest.json)")
@click.option("--format", "layout", required=True, type=click.Choice(["oclr"]), metavar="{oclr}",
              help="target layout")
@click.option("--out", required=True, type=OutputFolder(), metavar="OUT",
              help="output folder (made if missing; an earlier export there is updated)")
@click.option("--flow", default="gt", metavar="FLOW",
              help="flow for Flows_gap*: gt (default), dis, raft")
@click.option("--seq", multiple=True, metavar="SEQ",
              help="export only this sequence id (repeatable)")
def command(*, root: str, layout: str, out: str, flow: str, seq: tuple[str, ...]) -> int:
    with open_dataset(root) as ds:
        if flow not in ds.flow_methods:
            raise UsageError(f"--flow {flow}: {root} holds flows {', '.join(ds.flow_methods)}")
        unknown = [i for i in seq if i not in ds]
        if unknown:
            raise UsageError(f"--seq {unknown[0]}: no such sequence in {root}")
        try:
            names = export_oclr(ds, out, flow=flow, ids=list(seq) or None, show_progress=True)
        except ValueError as err:
            raise UsageError(f"{err} (export stopped; {out} left as it was)") from err
        except OSError as err:
            raise UsageError(f"{os_error_line(err)} (export stopped; {out} left as it was)") \
                from err
    print(f"exported {len(names)} sequences to {out}")
    return 0
