"""`oclr-eval`: score segmentations with DAVIS J, F and J&F.

Modes, chosen by the inputs given:

    oclr-eval --pred DIR --gt DIR [--merge-objects]      DAVIS-format mask folders (oclr.evaluate)
    oclr-eval --checkpoint CKPT --shards DIR ...         Syn-val            (oclr.eval_shards)
    oclr-eval --checkpoint CKPT --davis ROOT --set ...   real benchmarks    (oclr.real_benchmarks)

One click command whose options beyond the inputs are those of the chosen mode: a look at the
arguments before parsing picks the mode, so `--help` lists that mode's options and a Syn-val
`--flow` (the flow stored in the shards; by default the one the checkpoint trained on) is not
confused with a benchmark's (the estimator, default dis). Each mode builds its settings and
calls its module's one core function; the module is imported only once its mode is chosen, so
the --pred/--gt path never loads torch, and a mode whose module is not installed is refused in
one line.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import click
from layersynth.cli.conventions import CONTEXT, AtLeast, OneLineCommand, run_command
from layersynth.errors import UsageError
from layersynth.report import emit_json, progress, warn

from oclr.cli_flow import flow_options, flow_settings
from oclr.cli_types import ORDER_READOUT_HELP, ORDER_READOUTS, SPARES, SPARES_HELP
from oclr.davis_io import list_sequences
from oclr.outputs import check_output_file, reported_os_errors

PROG = "oclr-eval"
MODE_MODULES = {"shards": "oclr.eval_shards", "benchmark": "oclr.real_benchmarks"}
MODE_KEY = "oclr_eval_mode"  # where ModeCommand leaves the mode in click's context
USAGE_HINT = (
    "give --pred DIR --gt DIR, --checkpoint CKPT --shards DIR, "
    "or --checkpoint CKPT --davis ROOT --set NAME"
)
MODE_ARGS = {
    "folders": "--pred DIR --gt DIR",
    "shards": "--checkpoint CKPT --shards DIR",
    "benchmark": "--checkpoint CKPT",
}
EPILOG = (
    "Each mode has options of its own; `oclr-eval --checkpoint CKPT --shards DIR --help` and "
    "`oclr-eval --checkpoint CKPT --help` (real benchmarks: --davis ROOT --set "
    "{2016-val,2017-motion}, --segtrack ROOT, --fbms ROOT, --moca ROOT --moca-csv FILE) list them."
)


class PositiveInt(click.ParamType):
    name = "N"

    def convert(self, value, param, ctx) -> int:
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = 0
        if number < 1:
            self.fail(f"expected a positive integer, got {value!r}", param, ctx)
        return number


def _option(name: str, **settings) -> click.Option:
    return click.Option([name], **settings)


INPUTS = [  # the options that choose the mode, shared by every mode
    _option("--pred", metavar="DIR", help="predicted masks: DIR/<seq>/<frame>.png"),
    _option("--gt", metavar="DIR", help="ground-truth masks: DIR/<seq>/<frame>.png"),
    _option("--checkpoint", metavar="CKPT", help="a trained model (oclr-train)"),
    _option("--shards", metavar="DIR", help="layersynth shards (Syn-val)"),
    _option("--davis", metavar="ROOT", help="a benchmark root (see --set)"),
    _option("--json", metavar="FILE", help="also write the JSON result to FILE"),
]
MODE_INPUTS = ("--pred", "--gt", "--checkpoint", "--shards")

MODE_OPTIONS = {
    "folders": [
        _option("--merge-objects", is_flag=True,
                help="single-object benchmarks (DAVIS 2016, SegTrackv2, FBMS-59): score all ids "
                "as one foreground; reports J per sequence and per frame"),
        _option("--sequences", metavar="LIST",
                help="score only these sequences: comma-separated names, or a text file with one "
                "name a line (e.g. DAVIS ImageSets/2017/val.txt)"),
        _option("--workers", type=PositiveInt(), default=2, metavar="N",
                help="threads decoding and scoring frames (default 2; results do not depend on "
                "it)"),
    ],
    "shards": [
        _option("--flow", type=click.Choice(("gt", "raft", "dis")), default=None,
                metavar="{gt,raft,dis}",
                help="input flow stored in the shards (default: the flow the checkpoint was "
                "trained on, else the best the shards hold: raft, dis, gt)"),
        _option("--device", default="cpu", metavar="DEVICE",
                help="cpu, cuda or cuda:N (default cpu)"),
        _option("--batch", type=AtLeast(1), default=4, metavar="BATCH",
                help="clips per forward pass"),
        _option("--limit", type=AtLeast(1), metavar="LIMIT",
                help="score only the first N clips (id order)"),
        _option("--order-readout", type=click.Choice(ORDER_READOUTS), default=None,
                metavar="{" + ",".join(ORDER_READOUTS) + "}", help=ORDER_READOUT_HELP),
        _option("--spares", type=click.Choice(SPARES), default=None,
                metavar="{" + ",".join(SPARES) + "}", help=SPARES_HELP),
    ],
    "benchmark": [
        _option("--set", type=click.Choice(("2016-val", "2017-motion")),
                metavar="{2016-val,2017-motion}", help="DAVIS benchmark"),
        _option("--segtrack", metavar="ROOT", help="SegTrackv2 root"),
        _option("--fbms", metavar="ROOT", help="FBMS-59 root"),
        _option("--moca", metavar="ROOT", help="MoCA root (with --moca-csv)"),
        _option("--moca-csv", metavar="FILE", help="MoCA box annotations CSV"),
        _option("--out", metavar="DIR", help="masks go to DIR/<protocol>/<seq>/"),
        # the choices of oclr.real_benchmarks.PROTOCOL_CHOICES (not imported: it loads torch)
        _option("--protocol",
                type=click.Choice(("all", "both", "linked", "reference", "single-channel")),
                default="all", metavar="{all,both,linked,reference,single-channel}",
                help="identities across windows: linked without GT, reference (each window "
                "matched to the GT), single-channel (one GT-picked channel per window: the "
                "reference's DAVIS 2016 and MoCA protocol); both = linked and reference; all "
                "(default) = every protocol the benchmark has"),
        _option("--sequences", metavar="LIST",
                help="only these sequences (comma-separated), e.g. for a quick check"),
        _option("--overlap", type=AtLeast(0), metavar="N",
                help="frames shared by windows under the linked protocol (default: a third of a "
                "window)"),
        _option("--batch", type=AtLeast(1), default=1, metavar="BATCH",
                help="windows per forward pass"),
        _option("--order-readout", type=click.Choice(ORDER_READOUTS), default=None,
                metavar="{" + ",".join(ORDER_READOUTS) + "}", help=ORDER_READOUT_HELP),
        _option("--spares", type=click.Choice(SPARES), default=None,
                metavar="{" + ",".join(SPARES) + "}", help=SPARES_HELP),
        *flow_options(),
    ],
}


def choose_mode(given: set[str]) -> str:
    """'folders', 'shards' or 'benchmark' from the input options given (their names, e.g.
    "--pred"); UsageError when they do not make one mode."""
    folders = "--pred" in given or "--gt" in given
    if folders and "--checkpoint" in given:
        raise UsageError("--pred/--gt and --checkpoint are different modes: give one")
    if folders:
        if "--pred" not in given or "--gt" not in given:
            raise UsageError("--pred and --gt go together")
        return "folders"
    if "--checkpoint" not in given:
        raise UsageError(USAGE_HINT)
    return "shards" if "--shards" in given else "benchmark"


def inputs_given(args: list[str]) -> set[str]:
    """The mode-choosing options among the arguments (`--name VALUE` or `--name=VALUE`)."""
    given = set()
    for arg in args:
        if arg == "--":
            break
        name = arg.split("=", 1)[0]
        if name in MODE_INPUTS:
            given.add(name)
    return given


class ModeCommand(OneLineCommand):
    """A click command whose parameters are INPUTS plus those of the mode the inputs choose."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        given = inputs_given(args)
        if any(arg in ctx.help_option_names for arg in args):
            ctx.meta[MODE_KEY] = _mode_or_folders(given)  # help never fails on the mode
        else:
            ctx.meta[MODE_KEY] = choose_mode(given)
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as err:
            mode = ctx.meta[MODE_KEY]
            raise click.UsageError(
                f"unrecognized arguments: {err.option_name} (not an option of this mode; "
                f"`{PROG} {MODE_ARGS[mode]} --help` lists those it has)", ctx) from None

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        mode = ctx.meta.get(MODE_KEY, "folders")
        help_option = self.get_help_option(ctx)
        return [*self.params, *MODE_OPTIONS[mode], *([help_option] if help_option else [])]


def _mode_or_folders(given: set[str]) -> str:
    try:
        return choose_mode(given)
    except UsageError:
        return "folders"


def _mode_module(mode: str):
    name = MODE_MODULES[mode]
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name != name:
            raise
        raise UsageError(f"the {mode} mode is not available in this installation ({name})") from err


def evaluate(**options) -> int:
    """The command's body: run the mode ModeCommand chose with the options click parsed."""
    mode = click.get_current_context().meta[MODE_KEY]
    check_output_file(options["json"], "--json")
    if mode == "folders":
        return run_folders(options)
    module = _mode_module(mode)
    return run_shards(module, options) if mode == "shards" else run_benchmark(module, options)


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


def run_folders(options: dict) -> int:
    """The --pred/--gt mode: score, print the table, then the JSON object last on stdout."""
    # oclr.evaluate imports cv2: only once this mode runs, never for --help
    from oclr.evaluate import EvalConfig, evaluate_folders, format_table, select_sequences

    config = EvalConfig(merge_objects=options["merge_objects"],
                        sequences=parse_sequences(options["sequences"]),
                        workers=options["workers"])
    select_sequences(options["pred"], options["gt"], config)  # a refusal comes before warnings
    _warn_extra_predictions(options["pred"], options["gt"], config.sequences)
    result = evaluate_folders(options["pred"], options["gt"], config,
                              progress=lambda items, n: progress(items, n, "sequences"))
    print(format_table(result))
    write_result(result, options["json"])
    return 0


def _warn_extra_predictions(pred: str, gt: str, sequences: tuple[str, ...] | None) -> None:
    predicted = set(list_sequences(pred, "--pred"))
    wanted = set(sequences) if sequences else set(list_sequences(gt, "--gt"))
    extra = sorted(predicted - wanted)
    if extra:
        shown = ", ".join(extra[:5]) + (", ..." if len(extra) > 5 else "")
        warn(f"{len(extra)} predicted sequence(s) not scored (not in the ground truth): {shown}")


def write_result(result: dict, json_path: str | None) -> None:
    """The JSON object, last on stdout and in --json FILE; a failed write is one line naming it."""
    with reported_os_errors(json_path or "stdout"):
        emit_json(result, json_path)


# What the header line adds for a checkpoint with an objectness head (its ModelConfig.spares).
SPARES_NOTE = {"drop": ", layers its objectness head calls spare emptied",
               "behind": ", layers its objectness head calls spare put behind the others",
               "keep": ", its objectness head ignored (every layer kept)"}


def run_shards(module, options: dict) -> int:
    """The Syn-val mode through `module` (oclr.eval_shards): table, then the JSON object."""
    try:
        result = module.evaluate_shards(options["checkpoint"], options["shards"],
                                        flow=options["flow"], device=options["device"],
                                        batch=options["batch"], limit=options["limit"],
                                        order_readout=options["order_readout"],
                                        spares=options["spares"])
    except (FileNotFoundError, ValueError, KeyError) as err:
        raise UsageError(str(err).strip("'\"")) from err
    if result["flow_choice"].startswith(f"{module.TRAINED_FLOW_MISSING};"):
        warn(f"--flow: scoring on {result['flow']} flow, {result['flow_choice']}")
    asked = (f", order read by the {result['order_readout']} readout"
             if options["order_readout"] not in (None, "head") else "")
    asked += SPARES_NOTE.get(result.get("spares"), "")
    print(f"Syn-val: {options['shards']} ({result['flow']} flow: {result['flow_choice']}), "
          f"checkpoint {options['checkpoint']}{asked}")
    print(module.format_table(result))
    write_result(result, options["json"])
    return 0


def run_benchmark(module, options: dict) -> int:
    """The real-benchmark mode through `module` (oclr.real_benchmarks): table, then the JSON."""
    result = module.run_benchmark(benchmark_config(module, options), progress=progress)
    print(module.format_result(result))
    write_result(result, options["json"])
    return 0


def benchmark_config(module, options: dict):
    """`module.BenchmarkConfig` of the options; UsageError unless they name one benchmark."""
    given = {k: options[k] for k in ("davis", "segtrack", "fbms", "moca") if options[k] is not None}
    if len(given) != 1:
        raise UsageError("give exactly one of --davis ROOT --set NAME, --segtrack ROOT, "
                         "--fbms ROOT, --moca ROOT --moca-csv FILE (with --checkpoint)")
    kind, root = next(iter(given.items()))
    if kind == "davis" and options["set"] is None:
        raise UsageError("--davis needs --set 2016-val or --set 2017-motion")
    if kind == "moca" and options["moca_csv"] is None:
        raise UsageError("--moca needs --moca-csv FILE (the box annotations)")
    if options["out"] is None:
        raise UsageError("--out DIR is needed: the predicted masks are written there")
    try:
        return module.BenchmarkConfig(
            checkpoint=options["checkpoint"], benchmark=options["set"] if kind == "davis" else kind,
            root=root, out=options["out"], moca_csv=options["moca_csv"] if kind == "moca" else None,
            protocol=options["protocol"], sequences=_comma_list(options["sequences"]),
            overlap=options["overlap"], batch=options["batch"], device=options["device"],
            flow=flow_settings(options), order_readout=options["order_readout"],
            spares=options["spares"],
        )  # fmt: skip
    except ValueError as err:  # e.g. a protocol this benchmark does not have
        raise UsageError(f"--protocol {options['protocol']}: {err}") from None


def _comma_list(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(name.strip() for name in value.split(",") if name.strip())


command = ModeCommand(
    PROG,
    callback=evaluate,
    params=INPUTS,
    context_settings=CONTEXT,
    help="Score segmentations with DAVIS J, F and J&F: " + USAGE_HINT + ".",
    epilog=EPILOG,
)


def main(argv: list[str] | None = None) -> int:
    return run_command(command, argv, prog=PROG)


if __name__ == "__main__":
    sys.exit(main())
