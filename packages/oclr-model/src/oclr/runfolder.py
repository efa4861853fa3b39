"""A training run's folder and settings: where a run goes, and what starting or resuming it takes.

A run lives in one folder RUN (`runs/<preset>` unless given): `config.json`, `metrics.jsonl`,
`last.pt` and `step-N.pt`, written by `oclr.engine.train`. `train_config(RunRequest(...))`
turns what was asked for into the run's TrainConfig:

- a fresh run is refused where a run is already (any of RUN_FILES there; the lock file `.lock`
  that `hold_run` keeps there is not one), so nothing is overwritten;
- a resumed run (`resume=True`) takes its settings from RUN/last.pt: those that change what is
  learnt (CONTENT) must then match or be left out, while `steps` may grow and the rest (device,
  workers, periods, budget) may change.

Refusals are `layersynth.errors.InputError` naming the option (as `oclr-train` spells it) or the
file; a command line reports them as one line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from layersynth.errors import InputError
from layersynth.store import folder_lock

from oclr.checkpoint import read_checkpoint
from oclr.config import DEFAULT_LOSS, ModelConfig, TrainConfig
from oclr.data import check_dataset, open_reader
from oclr.distributed import check_device, from_env
from oclr.losses import LossConfig
from oclr.outputs import os_problem

RUN_FILES = ("config.json", "last.pt", "metrics.jsonl")
CONTENT = ("shards", "preset", "model", "loss", "flow", "batch", "lr", "seed", "warmup",
           "halve_every")
PERIODS = ("steps", "val_shards", "val_every", "ckpt_every", "keep_every", "val_limit")
RUNS_ROOT = Path("runs")  # relative: under the folder the command runs in


@dataclass(frozen=True)
class RunRequest:
    """A training run as asked for. None = not given: a resumed run keeps its stored setting, a
    fresh one takes TrainConfig's default. `out` None: RUNS_ROOT/<preset>. The run-time settings
    (device, workers, threads, bf16, max_seconds) are TrainConfig's and apply as given."""

    shards: str
    out: str | None = None
    resume: bool = False
    preset: str | None = None
    model: dict | None = None  # ModelConfig fields overriding the preset's
    loss: dict | None = None  # LossConfig fields overriding DEFAULT_LOSS[preset]
    flow: str | None = None
    batch: int | None = None
    lr: float | None = None
    seed: int | None = None
    warmup: int | None = None
    halve_every: int | None = None
    steps: int | None = None
    val_shards: str | None = None
    val_every: int | None = None
    ckpt_every: int | None = None
    keep_every: int | None = None
    val_limit: int | None = None
    device: str = "cpu"
    workers: int = 2
    threads: int | None = None
    bf16: bool | None = None
    max_seconds: float | None = None


def run_folder(request: RunRequest) -> Path:
    """`request.out`, else RUNS_ROOT/<preset> (the preset given, else TrainConfig's default)."""
    if request.out is not None:
        return Path(request.out)
    return RUNS_ROOT / (request.preset or _default("preset"))


def run_files(folder: Path) -> list[str]:
    """The RUN_FILES present in `folder`: a run is there when any is."""
    return [name for name in RUN_FILES if (folder / name).exists()]


def train_config(request: RunRequest) -> TrainConfig:
    """The TrainConfig of the run `request` asks for (fresh, or resumed from RUN/last.pt), with its
    datasets checked; InputError naming the option or file when it cannot be made."""
    out = run_folder(request)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: a file, not a folder")
    check_device(request.device)
    cfg = _resumed(request, out) if request.resume else _fresh(request, out)
    check_datasets(cfg)
    return cfg


@contextlib.contextmanager
def hold_run(cfg: TrainConfig) -> Iterator[None]:
    """Hold the run folder exclusively for the whole run (rank 0 only under torchrun): a second
    `oclr-train` on the same folder fails at once with FolderInUse naming this one's pid. A
    fresh run checks again, under the lock, that no run appeared there meanwhile, and if it fails
    before its first checkpoint its files are removed (`discard_unsaved_run`)."""
    if not from_env().is_main:
        yield
        return
    out = Path(cfg.out)
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(folder_lock.hold(out, "oclr-train"))
        except OSError as err:  # FolderInUse is an InputError, not an OSError
            raise InputError(f"--out {out}: cannot write there: {os_problem(err)}") from None
        if not cfg.resume:
            refuse_existing_run(out)
        try:
            yield
        except BaseException:
            if not cfg.resume:
                discard_unsaved_run(out)
            raise


def discard_unsaved_run(out: Path) -> None:
    """After a fresh run failed before its first checkpoint: remove what it wrote (config.json,
    metrics.jsonl, tb/), which would otherwise mark the folder as holding a run that cannot be
    resumed. The lock file stays (deleting one races with the next holder)."""
    if any(out.glob("*.pt")):
        return
    for name in ("config.json", "metrics.jsonl"):
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / "tb", ignore_errors=True)


def refuse_existing_run(out: Path) -> None:
    """InputError when `out` holds a run (any of RUN_FILES; the lock file does not count)."""
    found = run_files(out)
    if found:
        raise InputError(f"{out}: a run is already there ({', '.join(found)}); pass --resume to "
                         "continue it or choose another --out")


def _fresh(request: RunRequest, out: Path) -> TrainConfig:
    refuse_existing_run(out)
    given = {name: getattr(request, name) for name in CONTENT + PERIODS}
    given = {name: value for name, value in given.items() if value is not None}
    check_overrides(given.get("preset", _default("preset")), request.model, request.loss)
    return _build({**given, **_run_time(request), "out": str(out)})


def _resumed(request: RunRequest, out: Path) -> TrainConfig:
    ckpt = out / "last.pt"
    if not ckpt.is_file():
        raise InputError(f"{ckpt}: no checkpoint to resume from (drop --resume to start afresh)")
    state = read_checkpoint(ckpt)
    if not isinstance(state.get("train_config"), dict):
        raise InputError(f"{ckpt}: cannot resume from it: no train_config (a checkpoint of "
                         "weights only, not of a training run)")
    stored = dict(state["train_config"])
    done = state.get("step")
    if request.steps is not None and isinstance(done, int) and request.steps < done:
        raise InputError(f"--steps {request.steps}: below step {done} that {ckpt} has reached; "
                         f"give --steps {done} or more to continue the run")
    for name in CONTENT:
        given = getattr(request, name)
        if name == "loss" and given is not None:  # a resume may restate some fields
            given = {**stored.get("loss", {}), **given}
        if given is not None and given != stored.get(name):
            raise InputError(f"{ckpt}: --{name.replace('_', '-')} {given} differs from the run's "
                             f"{stored.get(name)}; a resumed run keeps its settings")
    periods = {name: getattr(request, name) for name in PERIODS}
    stored.update({name: value for name, value in periods.items() if value is not None})
    return _build({**stored, **_run_time(request), "out": str(out), "resume": True})


def _run_time(request: RunRequest) -> dict:
    return {"device": request.device, "workers": request.workers, "threads": request.threads,
            "bf16": request.bf16, "max_seconds": request.max_seconds}


def _build(settings: dict) -> TrainConfig:
    try:
        return TrainConfig(**settings)
    except (TypeError, ValueError) as err:
        raise InputError(str(err)) from err


def _default(name: str):
    return {f.name: f.default for f in dataclasses.fields(TrainConfig)}[name]


def check_overrides(preset: str, model: dict | None, loss: dict | None) -> None:
    """InputError naming --model or --loss when an override is not a field of ModelConfig or
    LossConfig, not a number where the field is one, or out of the field's range."""
    if preset not in DEFAULT_LOSS:
        return  # TrainConfig names the unknown preset
    if model:
        _check_fields("--model", ModelConfig, model)
        _check_values("--model", model, lambda: ModelConfig.preset(preset, **model))
    if loss:
        _check_fields("--loss", LossConfig, loss)
        _check_values("--loss", loss, lambda: LossConfig(**{**DEFAULT_LOSS[preset], **loss}))


def _check_fields(option: str, cls: type, overrides: dict) -> None:
    known = {f.name: f.default for f in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise InputError(f"{option}: unknown {cls.__name__} field(s) {unknown}; known fields: "
                         f"{sorted(known)}")
    for name, value in overrides.items():
        default = known[name]
        if _is_number(default) and not (_is_number(value) and math.isfinite(value)):
            raise InputError(f"{option} {name}={json.dumps(value)}: expected a finite number")
        if isinstance(default, int) and _is_number(default) and value != int(value):
            raise InputError(f"{option} {name}={json.dumps(value)}: expected an integer")


def _check_values(option: str, overrides: dict, build) -> None:
    try:
        build()
    except (TypeError, ValueError, OverflowError) as err:
        given = " ".join(f"{k}={json.dumps(v)}" for k, v in overrides.items())
        raise InputError(f"{option} {given}: {err}") from err


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_datasets(cfg: TrainConfig) -> None:
    """InputError naming a training or validation folder that is not a layersynth dataset, holds
    no sequence or lacks the run's flow: before the run folder is touched."""
    for name in ("shards", "val_shards"):
        path = getattr(cfg, name)
        if path is None:
            continue
        if not (Path(path) / "manifest.json").is_file():
            raise InputError(f"{path}: not a layersynth dataset folder (no manifest.json)")
        check_dataset(Path(path), open_reader(path), cfg.flow)
