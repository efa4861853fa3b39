"""`layersynth preview DIR --seq ID --out FILE`: .png contact sheet, .gif or .mp4 animation.

FILE is checked before anything is read (its extension; not a folder; its folder exists and is
writable); the picture goes to a temporary name renamed into place, so a failed run leaves FILE
as it was (see `layersynth.viz.preview.write_preview`).
"""

from __future__ import annotations

from pathlib import Path

import click

from layersynth.cli.conventions import (
    CONTEXT,
    AtLeast,
    OneLineCommand,
    Parsed,
    os_error_line,
    output_file_problem,
)
from layersynth.errors import UsageError
from layersynth.store.reader import open_dataset
from layersynth.viz.preview import FORMATS, write_preview

HELP = "picture of one sequence: .png contact sheet, .gif or .mp4 (rgb, flow, modal, amodal)"


def picture_file(text: str) -> str:
    if Path(text).suffix.lower() not in FORMATS:
        raise ValueError("use a .png, .gif or .mp4 file name")
    problem = output_file_problem(text)
    if problem:
        raise ValueError(problem)
    return text


@click.command("preview", cls=OneLineCommand, context_settings=CONTEXT, help=HELP,
               short_help=HELP)
@click.argument("root", metavar="DIR", help="dataset folder (with manifest.json)")
@click.option("--seq", required=True, metavar="SEQ", help="sequence id, e.g. 000017")
@click.option("--out", type=Parsed(picture_file), required=True, metavar="OUT",
              help="output file: .png, .gif or .mp4")
@click.option("--fps", type=AtLeast(1), default=10, metavar="FPS",
              help="frames per second of animations")
def command(*, root: str, seq: str, out: str, fps: int) -> int:
    with open_dataset(root) as ds:
        if seq not in ds:
            held = f"(ids {ds.ids[0]} .. {ds.ids[-1]})" if len(ds) else "(empty)"
            raise UsageError(f"--seq {seq}: no such sequence in {root} {held}")
        arrays = ds[seq]
    try:
        written = write_preview(arrays, out, fps=fps)
    except OSError as err:
        raise UsageError(f"{os_error_line(err)} (preview not written; {out} left as it "
                         "was)") from err
    print(written)
    return 0
