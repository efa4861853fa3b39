"""`oclr-infer --checkpoint CKPT --frames DIR | --video FILE --out DIR`: masks for a real video.

Parses the options into an `oclr.segment_video.SegmentConfig` and runs `segment_video` (which
says what is written where); prints a table, then a JSON summary last on stdout; progress on
stderr.
"""

from __future__ import annotations

import sys

import click
from layersynth.cli.conventions import CONTEXT, AtLeast, OneLineCommand, run_command
from layersynth.errors import UsageError
from layersynth.report import emit_json, progress

from oclr.cli_flow import flow_options, flow_settings
from oclr.cli_types import ORDER_READOUT_HELP, ORDER_READOUTS, SPARES, SPARES_HELP, Number
from oclr.outputs import check_output_file, reported_os_errors
from oclr.video_io import MediaError

PROG = "oclr-infer"


def segment(**options) -> int:
    """The command's body: the options as click parsed them."""
    if (options["frames"] is None) == (options["video"] is None):
        raise UsageError("give exactly one of --frames DIR or --video FILE")
    check_output_file(options["json"], "--json")
    # oclr.segment_video imports torch: only once the command runs, never for --help
    from oclr.segment_video import SegmentConfig, format_summary, segment_video

    cfg = SegmentConfig(
        checkpoint=options["checkpoint"], out=options["out"], frames=options["frames"],
        video=options["video"], flow=flow_settings(options), device=options["device"],
        overlap=options["overlap"], batch=options["batch"], fps=options["fps"],
        overlay=not options["no_overlay"], order_readout=options["order_readout"],
        spares=options["spares"],
    )  # fmt: skip
    try:
        summary = segment_video(cfg, progress=progress)
    except MediaError as err:
        raise UsageError(str(err)) from None
    print(format_summary(summary))
    with reported_os_errors(options["json"] or "stdout"):
        emit_json(summary, options["json"])
    return 0


command = OneLineCommand(
    PROG,
    callback=segment,
    context_settings=CONTEXT,
    help="Segment the moving objects of a real video.",
    params=[
        click.Option(["--checkpoint"], required=True, metavar="CKPT", help="a trained model"),
        click.Option(["--frames"], metavar="DIR",
                     help="folder of .jpg/.png frames (name order)"),
        click.Option(["--video"], metavar="FILE", help="a video file (MP4, AVI, MOV, ...)"),
        click.Option(["--out"], required=True, metavar="DIR", help="output folder"),
        *flow_options(),
        click.Option(["--overlap"], type=AtLeast(0), metavar="N",
                     help="frames shared by consecutive windows (default: a third of a window)"),
        click.Option(["--batch"], type=AtLeast(1), default=1, metavar="BATCH",
                     help="windows per forward pass (default 1)"),
        click.Option(["--fps"], type=Number(0.0), metavar="FPS",
                     help="overlay frame rate (default: the video's, or 24)"),
        click.Option(["--no-overlay"], is_flag=True, help="do not write the overlay video"),
        click.Option(["--order-readout"], type=click.Choice(ORDER_READOUTS),
                     metavar="{" + ",".join(ORDER_READOUTS) + "}", help=ORDER_READOUT_HELP),
        click.Option(["--spares"], type=click.Choice(SPARES),
                     metavar="{" + ",".join(SPARES) + "}", help=SPARES_HELP),
        click.Option(["--json"], metavar="FILE", help="also write the JSON summary to FILE"),
    ],
)


def main(argv: list[str] | None = None) -> int:
    return run_command(command, argv, prog=PROG)


if __name__ == "__main__":
    sys.exit(main())
