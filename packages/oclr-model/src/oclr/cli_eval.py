"""`oclr-eval`: score segmentations with DAVIS J, F and J&F.

Modes, chosen by the inputs given:

    oclr-eval --pred DIR --gt DIR [--merge-objects]      DAVIS-format mask folders (this module)
    oclr-eval --checkpoint CKPT --shards DIR ...         Syn-val            (oclr.eval_shards)
    oclr-eval --checkpoint CKPT --davis ROOT --set ...   real benchmarks    (oclr.benchmarks)

A mode module exposes `add_arguments(parser)` (its own options only; it must not import torch at
module level) and `run(args) -> int` (prints a table, then `emit_json(result, args.json)`).
It is imported only once its mode is chosen, so the --pred/--gt path never loads torch; a mode
whose module is not installed is refused in one line.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from layersynth.cli.conventions import OneLineParser, run_main
from layersynth.errors import UsageError
from layersynth.report import emit_json, progress

PROG = "oclr-eval"
MODE_MODULES = {"shards": "oclr.eval_shards", "benchmark": "oclr.benchmarks"}
USAGE_HINT = (
    "give --pred DIR --gt DIR, --checkpoint CKPT --shards DIR, "
    "or --checkpoint CKPT --davis ROOT --set NAME"
)


def _add_inputs(parser: argparse.ArgumentParser) -> None:
    """The options that choose the mode, shared by every mode."""
    parser.add_argument("--pred", metavar="DIR", help="predicted masks: DIR/<seq>/<frame>.png")
    parser.add_argument("--gt", metavar="DIR", help="ground-truth masks: DIR/<seq>/<frame>.png")
    parser.add_argument("--checkpoint", metavar="CKPT", help="a trained model (oclr-train)")
    parser.add_argument("--shards", metavar="DIR", help="layersynth shards (Syn-val)")
    parser.add_argument("--davis", metavar="ROOT", help="a benchmark root (see --set)")
    parser.add_argument("--json", metavar="FILE", help="also write the JSON result to FILE")


def _add_folder_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--merge-objects", action="store_true",
        help="single-object benchmarks (DAVIS 2016, SegTrackv2, FBMS-59): score all ids as one "
        "foreground; reports J per sequence and per frame",
    )  # fmt: skip
    parser.add_argument(
        "--sequences", metavar="LIST",
        help="score only these sequences: comma-separated names, or a text file with one name "
        "a line (e.g. DAVIS ImageSets/2017/val.txt)",
    )  # fmt: skip
    parser.add_argument(
        "--workers", type=_positive_int, default=2, metavar="N",
        help="threads decoding and scoring frames (default 2; results do not depend on it)",
    )  # fmt: skip


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def choose_mode(args: argparse.Namespace) -> str:
    """'folders', 'shards' or 'benchmark' from the inputs given; UsageError when ambiguous."""
    folders = args.pred is not None or args.gt is not None
    if folders and args.checkpoint is not None:
        raise UsageError("--pred/--gt and --checkpoint are different modes: give one")
    if folders:
        if args.pred is None or args.gt is None:
            raise UsageError("--pred and --gt go together")
        return "folders"
    if args.checkpoint is None:
        raise UsageError(USAGE_HINT)
    if args.shards is not None:
        return "shards"
    return "benchmark"


def _mode_module(mode: str):
    name = MODE_MODULES[mode]
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name != name:
            raise
        raise UsageError(f"the {mode} mode is not available in this installation ({name})") from err


def build_parser(mode: str | None, module=None) -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=PROG,
        description="Score segmentations with DAVIS J, F and J&F: " + USAGE_HINT + ".",
        epilog="Each mode has options of its own; `oclr-eval --checkpoint CKPT --shards DIR "
        "--help` and `oclr-eval --checkpoint CKPT --help` (real benchmarks: --davis ROOT --set "
        "{2016-val,2017-motion}, --segtrack ROOT, --fbms ROOT, --moca ROOT --moca-csv FILE) "
        "list them.",
    )
    _add_inputs(parser)
    if mode in (None, "folders"):
        _add_folder_options(parser)
    if module is not None:
        module.add_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_main(PROG, lambda: _main(sys.argv[1:] if argv is None else argv))


def _main(argv: list[str]) -> int:
    first = OneLineParser(prog=PROG, add_help=False)
    _add_inputs(first)
    known, _ = first.parse_known_args(argv)
    if "-h" in argv or "--help" in argv:
        mode = _mode_or_none(known)
        build_parser(mode, _mode_module(mode) if mode in MODE_MODULES else None).parse_args(argv)
    mode = choose_mode(known)
    module = _mode_module(mode) if mode in MODE_MODULES else None
    args = build_parser(mode, module).parse_args(argv)
    if module is not None:
        return int(module.run(args) or 0)
    return run_folders(args)


def _mode_or_none(args: argparse.Namespace) -> str | None:
    try:
        return choose_mode(args)
    except UsageError:
        return None


def parse_sequences(value: str | None) -> tuple[str, ...] | None:
    """--sequences: a text file of names (one a line) if such a file exists, else a comma list."""
    if value is None:
        return None
    path = Path(value)
    if path.is_file():
        names = [line.strip() for line in path.read_text().splitlines()]
    else:
        names = [name.strip() for name in value.split(",")]
    names = [name for name in names if name]
    if not names:
        raise UsageError(f"--sequences {value}: no sequence names")
    return tuple(dict.fromkeys(names))


def run_folders(args: argparse.Namespace) -> int:
    """The --pred/--gt mode: score, print the table, then the JSON object last on stdout."""
    from oclr.evaluate import EvalConfig, evaluate_folders, format_table

    config = EvalConfig(
        merge_objects=args.merge_objects,
        sequences=parse_sequences(args.sequences),
        workers=args.workers,
    )
    _warn_extra_predictions(args, config)
    result = evaluate_folders(
        args.pred, args.gt, config, progress=lambda items, n: progress(items, n, "sequences")
    )
    print(format_table(result))
    emit_json(result, args.json)
    return 0


def _warn_extra_predictions(args: argparse.Namespace, config) -> None:
    from layersynth.report import warn

    from oclr.davis_io import list_sequences

    pred = set(list_sequences(args.pred, "--pred"))
    wanted = set(config.sequences) if config.sequences else set(list_sequences(args.gt, "--gt"))
    extra = sorted(pred - wanted)
    if extra:
        shown = ", ".join(extra[:5]) + (", ..." if len(extra) > 5 else "")
        warn(f"{len(extra)} predicted sequence(s) not scored (not in the ground truth): {shown}")


if __name__ == "__main__":
    sys.exit(main())
