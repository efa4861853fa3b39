"""`layersynth generate`: N sequences into HDF5 shards, parallel and resumable.

The options' text formats (HxW, LO:HI, 1,2,3) are read here; the values are checked by
`SceneConfig` itself (with the chosen preset), whose ValueError is reported naming the option.
Everything that can be refused is refused before the first sequence is rendered: the options,
an --out that is a file or not writable, a --json FILE that cannot be written, estimated flow on
clips too short or too small for it, and a --scheduler that cannot be reached.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from dataclasses import dataclass
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
from layersynth.errors import UsageError
from layersynth.estimators import METHODS, check_clip_size, parse_device
from layersynth.scene.config import PRESETS, SceneConfig
from layersynth.store.manifest import sha256_file

HELP = "render N sequences into HDF5 shards with manifest.json and DATASET.md (resumable)"
# Flows stored when --flow is not given. oclr: DIS beside the exact flow, so a model trains on
# estimated flow as real video gives it (oclr-train takes the best estimated flow a folder holds);
# the syn-val presets the same, so that model is scored on the same kind of input. tiny: exact
# flow only, so the CPU demo and the tests stay fast. Measured cost: README.md and docs/flow.md.
DEFAULT_FLOW = {name: ("gt",) if name == "tiny" else ("gt", "dis") for name in PRESETS}
ASSET_KINDS = ("textures", "silhouettes", "backgrounds")


@dataclass(frozen=True)
class Override:
    """SceneConfig fields set by one option, with the option and its text for error messages."""

    option: str
    text: str
    fields: dict


def parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError("expected an integer") from None


def parse_size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError("expected HxW, e.g. 128x224") from None
    return h, w


def parse_objects(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise ValueError("expected counts like 1,2,3") from None


def parse_occlusion(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(":"))
    except ValueError:
        raise ValueError("expected LO:HI, e.g. 0.2:0.5") from None
    return lo, hi


def parse_time_step(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError("expected a number of nominal frames per frame, e.g. 0.5") from None


def parse_gaps(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise ValueError("expected frame gaps like 1,2") from None


def parse_rate(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError("expected a rate in [0, 1], e.g. 0.25") from None


def parse_flow(text: str) -> tuple[str, ...]:
    """Flows to store, "gt" first (exact flow is always stored), then the estimated ones."""
    methods = [m.strip() for m in text.split(",") if m.strip()]
    if not methods:
        raise ValueError(f"expected methods like gt,dis; choose from gt, {', '.join(METHODS)}")
    bad = [m for m in methods if m not in ("gt", *METHODS)]
    if bad:
        raise ValueError(f"unknown method {bad[0]!r}; choose from gt, {', '.join(METHODS)}")
    return ("gt", *(m for m in METHODS if m in methods))


class SceneOption(Parsed):
    """Text of SceneConfig `fields` read by `parse` into an `Override` (checked later, with the
    preset, by `scene_overrides`)."""

    def __init__(self, parse, *fields: str):
        super().__init__(parse)
        self.fields = fields

    def convert(self, value, param, ctx):
        if isinstance(value, Override):
            return value
        parsed = super().convert(value, param, ctx)
        values = parsed if len(self.fields) > 1 else (parsed,)
        return Override(param.opts[0], value, dict(zip(self.fields, values, strict=True)))


def scene_overrides(preset: str, *given: Override | None) -> dict:
    """The SceneConfig fields the options set, checked by SceneConfig on the preset all together
    (so that a valid combination passes: `--static-spells 0.8 --enter-exit 0.1`). A value wrong
    on its own names its option ("--size 8x8: at least 16 pixels, got 8x8"); a combination that
    is wrong names every option given ("--static-spells 0.8 --enter-exit 0.5: ...")."""
    given = [o for o in given if o is not None]
    fields = {k: v for o in given for k, v in o.fields.items()}
    try:
        SceneConfig.preset(preset, **fields)
        return fields
    except ValueError as err:
        combined = str(err)
    for override in given:
        try:
            SceneConfig.preset(preset, **override.fields)
        except ValueError as err:
            head, _, rest = str(err).partition(": ")
            if rest and set(head.split(", ")) <= set(override.fields):
                raise UsageError(f"{override.option} {override.text}: {rest}") from None
    shown = " ".join(f"{o.option} {o.text}" for o in given)
    raise UsageError(f"{shown}: {combined}")


# SCHEME://HOST:PORT with a scheme that can reach another machine ("inproc" cannot).
_SCHEDULER = re.compile(r"^(tcp|tls|ws|wss|ucx)://(\[[0-9a-fA-F:.]+\]|[^\s/:\[\]]+):(\d{1,5})$")


def parse_scheduler(text: str) -> str:
    """A Dask scheduler address, e.g. tcp://HOST:8786, read without importing dask."""
    found = _SCHEDULER.match(text)
    if not found or not 0 < int(found.group(3)) < 65536:
        raise ValueError("expected a Dask scheduler address tcp://HOST:PORT (or tls://, ws://, "
                         "wss://, ucx://) with a port from 1 to 65535")
    return text


def reach_scheduler(address: str, timeout: str = "10s") -> None:
    """Open and close one connection to the scheduler; UsageError if it cannot be reached.

    A bare connection, not a `distributed.Client`: a Client whose constructor fails is left
    half-built, and its destructor later waits 20 s and prints a traceback (`Client.__del__`).
    """
    try:
        from distributed.comm import connect
        from distributed.security import Security
    except ImportError as err:
        raise UsageError(f"--scheduler {address}: dask.distributed is not installed "
                         f"({err})") from err

    async def touch() -> None:
        comm = await connect(address, timeout=timeout,
                             **Security().get_connection_args("client"))
        await comm.close()

    try:
        asyncio.run(touch())
    except (OSError, TimeoutError, TypeError, ValueError) as err:
        # TypeError: a tls:// address with no TLS configured in dask's settings
        raise UsageError(f"--scheduler {address}: cannot reach the Dask scheduler ({err})") \
            from None


def quiet_client_destructors() -> None:
    """Drop what a half-built `distributed.Client` prints when it is collected (an ignored
    exception in `Client.__del__`): the run has reported its own error by then."""
    previous = sys.unraisablehook

    def hook(unraisable) -> None:
        if getattr(unraisable.object, "__qualname__", "") != "Client.__del__":
            previous(unraisable)

    sys.unraisablehook = hook


def check_flow_sizes(flow: tuple[str, ...], scene: dict, *, defaulted: bool = False) -> None:
    """Refuse estimated flows the clips cannot have (T < 2; DIS below its smallest frame);
    `defaulted`: the flows are the preset's default, which the message then says."""
    for method in flow[1:]:
        try:
            check_clip_size(method, scene["frames"], scene["height"], scene["width"])
        except UsageError as err:
            hint = " (the preset's default flows; --flow gt stores ground truth only)"
            raise UsageError(f"--flow {','.join(flow)}{hint if defaulted else ''} with --frames "
                             f"{scene['frames']} --size {scene['height']}x{scene['width']}: "
                             f"{err}") from None


def raft_checkpoint(path: Path | None, flow: tuple[str, ...]) -> dict | None:
    """{"path", "sha256"} of the --raft-weights file, None without one."""
    if path is None:
        return None
    if "raft" not in flow:
        raise UsageError("--raft-weights is only used with --flow ...,raft")
    return {"path": str(path.resolve()), "sha256": sha256_file(path)}


def asset_dirs(**folders: Path | None) -> dict:
    return {kind: str(path.resolve()) if path else None for kind, path in folders.items()}


def default_workers() -> int:
    if hasattr(os, "sched_getaffinity"):  # the cores this process may use, not the machine's
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


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


def asset_options(command):
    for kind in reversed(ASSET_KINDS):
        command = click.option(f"--{kind}", type=ExistingPath("folder"), metavar="DIR",
                               help=f"folder of {kind} (default: built-in)")(command)
    return command


@click.command("generate", cls=OneLineCommand, context_settings=CONTEXT, help=HELP,
               short_help=HELP)
@click.option("--n", type=AtLeast(1), required=True, metavar="N", help="number of sequences")
@click.option("--out", required=True, type=OutputFolder(), metavar="OUT",
              help="output folder (re-run the same command to resume)")
@click.option("--preset", default="oclr", type=click.Choice(list(PRESETS)),
              metavar="{" + ",".join(PRESETS) + "}",
              help="scene settings: oclr (training), syn-val (its validation twin), "
                   "syn-val-static / syn-val-occluded / syn-val-articulated / "
                   "syn-val-reorder (every object pauses once / one object per scene wholly "
                   "hidden / every object articulated / two objects swap depth in every "
                   "scene), tiny (CPU tests)")
@click.option("--seed", type=AtLeast(0), default=0, metavar="SEED",
              help="dataset seed (default 0)")
@click.option("--workers", type=AtLeast(1), default=None, metavar="WORKERS",
              help="local processes (default: cores)")
@click.option("--scheduler", type=Parsed(parse_scheduler), metavar="SCHEDULER",
              help="address of an existing Dask scheduler (tcp://HOST:8786)")
@click.option("--frames", type=SceneOption(parse_int, "frames"), metavar="FRAMES",
              help="frames per sequence (T)")
@click.option("--size", type=SceneOption(parse_size, "height", "width"), metavar="SIZE",
              help="frame size HxW, e.g. 128x224")
@click.option("--objects", type=SceneOption(parse_objects, "objects"), metavar="OBJECTS",
              help="object counts drawn in equal parts, e.g. 1,2,3")
@click.option("--occlusion", type=SceneOption(parse_occlusion, "occlusion"), metavar="OCCLUSION",
              help="hidden fraction of object area LO:HI, e.g. 0.2:0.5")
@click.option("--time-step", type=SceneOption(parse_time_step, "time_step"), metavar="S",
              help="nominal frames between frames (default 1; 0.5 doubles the frame rate: "
                   "--time-step 0.5 --frames 2T-1 holds the T-frame clip at its even frames)")
@click.option("--gaps", type=SceneOption(parse_gaps, "gaps"), metavar="GAPS",
              help="frame gaps of the stored flows, e.g. 1,2 for +-1 and +-2 (default 1)")
@click.option("--static-spells", type=SceneOption(parse_rate, "static_spell_prob"),
              metavar="RATE", help="share of objects that pause relative to the background once")
@click.option("--enter-exit", type=SceneOption(parse_rate, "enter_exit_prob"), metavar="RATE",
              help="share of objects whose path enters or leaves the frame")
@click.option("--full-occlusions", type=SceneOption(parse_rate, "full_occlusion_prob"),
              metavar="RATE", help="share of scenes with one object wholly hidden for a while")
@click.option("--order-changes", type=SceneOption(parse_rate, "order_change_prob"),
              metavar="P", help="share of multi-object scenes where two objects swap depth once, "
                                "while apart (default 0 for oclr; 1 for syn-val-reorder)")
@click.option("--flow", type=Parsed(parse_flow), default=None, metavar="FLOW",
              help="flows to store: gt (always), dis, raft (default: gt,dis for the oclr and "
                   "syn-val presets, gt for tiny)")
@click.option("--raft-weights", type=ExistingPath("file"), metavar="RAFT_WEIGHTS",
              help="local RAFT checkpoint for --flow raft")
@click.option("--device", default="cpu", type=Parsed(parse_device), metavar="DEVICE",
              help="device of RAFT: cpu, cuda or cuda:N (DIS runs on the CPU whatever it is; "
                   "an unknown name is refused all the same)")
@click.option("--shard-size", type=AtLeast(1), metavar="SHARD_SIZE",
              help="sequences per shard (default by preset)")
@asset_options
@click.option("--json", "json_file", type=OutputFile(), metavar="FILE",
              help="also write the summary JSON here")
def command(*, n: int, out: str, preset: str, seed: int, workers: int | None,
            scheduler: str | None, frames: Override | None, size: Override | None,
            objects: Override | None, occlusion: Override | None,
            time_step: Override | None, gaps: Override | None,
            static_spells: Override | None, enter_exit: Override | None,
            full_occlusions: Override | None, order_changes: Override | None,
            flow: tuple[str, ...] | None,
            raft_weights: Path | None, device: str, shard_size: int | None,
            textures: Path | None, silhouettes: Path | None, backgrounds: Path | None,
            json_file: str | None) -> int:
    # The renderer loads scipy and numba (~0.8 s): paid by generate, not by --help.
    from layersynth.pipeline import generation

    defaulted = flow is None
    flow = DEFAULT_FLOW[preset] if defaulted else flow
    settings = generation.make_settings(
        preset=preset, seed=seed, shard_size=shard_size, flow=flow,
        raft_weights=raft_checkpoint(raft_weights, flow),
        asset_dirs=asset_dirs(textures=textures, silhouettes=silhouettes, backgrounds=backgrounds),
        **scene_overrides(preset, frames, size, objects, occlusion, time_step, gaps,
                          static_spells, enter_exit, full_occlusions, order_changes))
    check_flow_sizes(flow, settings.scene, defaulted=defaulted)
    for method in flow[1:]:  # fail now, not in a worker: a missing module or checkpoint
        generation.build_estimator(method, settings, device)
    if scheduler:
        reach_scheduler(scheduler)  # unreachable scheduler: refuse before any work
        quiet_client_destructors()
    summary = generation.generate(settings, n=n, out=out, workers=workers or default_workers(),
                                  scheduler=scheduler, device=device)
    print_summary(summary)
    emit_result(summary, json_file)
    return 0
