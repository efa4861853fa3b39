"""`layersynth import SRC --format oclr --out DIR`: the released OCLR layout into shards.

The reverse of `export`: JPEG frames, the .flo flows (stored as `flow_raft`, provenance
"imported"; there is no ground-truth flow) and the amodal PNGs (re-ordered: layer 0 front-most)
of every sequence folder of SRC, written the way `generate` writes (parallel, resumable, atomic,
checksummed, manifest and dataset card; `layersynth.pipeline.importing`). A sequence with a bad
file is skipped with a warning naming the file and counted (`--strict`: it stops the import, exit
2, nothing written); re-running the same command resumes.
"""

from __future__ import annotations

from pathlib import Path

import click

from layersynth.cli.conventions import (
    CONTEXT,
    AtLeast,
    ExistingPath,
    OneLineCommand,
    OutputFile,
    OutputFolder,
    Parsed,
    emit_result,
)
from layersynth.cli.generate import default_workers, parse_size

HELP = "read the released OCLR layout (JPEG, .flo, amodal PNG) into shards (flow_raft, no gt)"


def print_summary(s: dict) -> None:
    fps = s["frames_per_second"]
    print(f"dataset        {s['out']}")
    print(f"source         {s['source']}")
    print(f"sequences      {s['sequences']} ({s['made']} made, {s['kept']} kept, "
          f"{s['skipped']} skipped)")
    print(f"shards         {s['shards']}")
    print(f"size           {s['bytes'] / 1e6:.1f} MB (source {s['source_bytes'] / 1e6:.1f} MB)")
    print(f"time           {s['seconds']:.1f} s on {s['workers']} worker(s)"
          + (f", {fps:.0f} frames/s" if fps else ""))


@click.command("import", cls=OneLineCommand, context_settings=CONTEXT, help=HELP,
               short_help=HELP)
@click.argument("src", metavar="SRC", type=ExistingPath("folder"),
                help="folder in the released layout (JPEGImages/, AmodalAnnotations/, ...)")
@click.option("--format", "layout", required=True, type=click.Choice(["oclr"]), metavar="{oclr}",
              help="source layout")
@click.option("--out", required=True, type=OutputFolder(), metavar="OUT",
              help="output folder (re-run the same command to resume)")
@click.option("--size", type=Parsed(parse_size), metavar="SIZE",
              help="store frames, masks and flows at HxW, e.g. 128x224 (default: as read)")
@click.option("--workers", type=AtLeast(1), default=None, metavar="WORKERS",
              help="local processes (default: cores)")
@click.option("--shard-size", type=AtLeast(1), default=16, metavar="SHARD_SIZE",
              help="sequences per shard (default 16)")
@click.option("--strict", is_flag=True,
              help="stop at the first bad sequence instead of skipping it")
@click.option("--json", "json_file", type=OutputFile(), metavar="FILE",
              help="also write the summary JSON here")
def command(*, src: Path, layout: str, out: str, size: tuple[int, int] | None,
            workers: int | None, shard_size: int, strict: bool, json_file: str | None) -> int:
    # The writer loads h5py and the compositing helpers: paid by import, not by --help.
    from layersynth.pipeline.importing import ImportConfig, import_dataset

    cfg = ImportConfig(src=Path(src), size=size, shard_size=shard_size, strict=strict)
    summary = import_dataset(cfg, out, workers=workers or default_workers())
    print_summary(summary)
    emit_result(summary, json_file)
    return 0
