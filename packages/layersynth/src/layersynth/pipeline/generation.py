"""Dataset generation: seeds, shard assignment, the per-shard task, the runners, resume.

- Sequence i is drawn from `SeedSequence(entropy=seed, spawn_key=(namespace, i))`: the training
  presets use namespace 0, "syn-val" namespace 1 and its splits 2 ("syn-val-static"), 3
  ("syn-val-occluded"), 4 ("syn-val-articulated") and 5 ("syn-val-reorder"), so Syn-val never
  repeats a training scene whatever the seeds. Its id is `manifest.seq_id(i)` and it lands in
  shard i // S (S, the shard size, is part of the settings), so the dataset does not depend on
  the number of workers.
- One task makes one whole shard (`make_shard`): render its sequences, estimate flows (at every
  gap of the dataset, `scene_gaps`), write it under a temporary name, rename it. The same task
  runs in-process (1 worker), in a local process pool, or on a Dask cluster (`--scheduler`).
- The main process alone writes manifest.json, after each finished shard: a re-run keeps the shards
  it lists (with the ids they should hold, and files whose sha256 is the listed one) and redoes the
  rest, saying on stderr which listed shard it found damaged (`resume.prepare`), so a run killed
  at any moment and re-run ends with the same dataset as one uninterrupted run.
- A run holds its output folder exclusively (`folder_lock.hold`) from start to end: a second run
  on the same folder stops at once (FolderInUse, naming the first one's pid) instead of deleting
  the first one's temporary shards.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from layersynth import __version__
from layersynth.assets.loading import load_assets as load_user_assets
from layersynth.assets.sources import Assets
from layersynth.errors import UsageError
from layersynth.estimators import build_estimator as build_flow_estimator
from layersynth.estimators import check_clip_size
from layersynth.pipeline.resume import make_folder, prepare
from layersynth.render.composition import occlusion_fraction
from layersynth.render.renderer import render
from layersynth.report import progress
from layersynth.scene.config import SceneConfig
from layersynth.scene.sampling import sample_scene
from layersynth.store import card, manifest
from layersynth.store.folder_lock import hold
from layersynth.store.gaps import DEFAULT_GAPS, check_gaps
from layersynth.store.writer import ShardWriter

# Seed namespaces: training 0, Syn-val 1, each Syn-val split its own (no scene repeats another
# set's, whatever the seeds).
NAMESPACES = {"oclr": 0, "tiny": 0, "syn-val": 1, "syn-val-static": 2, "syn-val-occluded": 3,
              "syn-val-articulated": 4, "syn-val-reorder": 5}
# ~70 MB shards at the oclr size
SHARD_SIZES = {"oclr": 16, "syn-val": 16, "syn-val-static": 16, "syn-val-occluded": 16,
               "syn-val-articulated": 16, "syn-val-reorder": 16, "tiny": 4}
FLOW_METHODS = ("gt", "dis", "raft")
ASSET_KINDS = ("textures", "silhouettes", "backgrounds")
CONNECT_TIMEOUT = "10s"  # to reach a --scheduler before giving up
# Sources that never touch what a shard holds (paths under layersynth/; a trailing / is a whole
# subpackage): editing them keeps a dataset resumable.
OUTPUT_SIDE = ("cli/", "viz/", "errors.py", "report.py", "store/reader.py", "store/card.py",
               "store/oclr_export.py", "store/middlebury_flo.py", "assets/lockfile.py",
               "assets/fetch.py", "estimators/epe.py", "estimators/inplace.py",
               "store/oclr_import.py", "pipeline/importing.py")


class GenerationError(UsageError):
    """A sequence that cannot be made with these settings (reported in one line, exit 2)."""


@dataclass(frozen=True)
class Settings:
    """Everything that decides the content of a dataset (stored in the manifest and each shard).

    scene: SceneConfig.to_dict(); flow: methods stored, "gt" first; raft_weights: {"path",
    "sha256"} or None; asset_dirs: the --textures/--silhouettes/--backgrounds folders (None =
    built-in); assets: Assets.describe() of what was loaded; shard_size: S; generator_code: a
    fingerprint of the generator's source (`code_fingerprint`), because the version number does
    not change with every edit of a development tree and a resumed dataset must not mix outputs.
    """

    preset: str
    seed: int
    namespace: int
    scene: dict
    flow: tuple[str, ...]
    raft_weights: dict | None
    asset_dirs: dict
    assets: dict
    shard_size: int
    generator_version: str
    generator_code: str = ""

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, d: dict) -> Settings:
        return cls(**dict(d, flow=tuple(d["flow"])))


def make_settings(*, preset: str, seed: int, shard_size: int | None = None,
                  flow: tuple[str, ...] = ("gt",), raft_weights: dict | None = None,
                  asset_dirs: dict | None = None, **scene) -> Settings:
    """Settings: the preset's SceneConfig with `scene` overrides; UsageError if bad."""

    try:
        cfg = SceneConfig.preset(preset, **scene)
    except (TypeError, ValueError) as err:
        raise UsageError(f"scene settings: {err}") from err
    dirs = {kind: None for kind in ASSET_KINDS} | (asset_dirs or {})
    return Settings(
        preset=preset, seed=seed, namespace=NAMESPACES[preset], scene=cfg.to_dict(),
        flow=tuple(flow), raft_weights=raft_weights, asset_dirs=dirs,
        assets=load_assets(dirs).describe(), shard_size=shard_size or SHARD_SIZES[preset],
        generator_version=__version__, generator_code=code_fingerprint(),
    )


def check_estimable(settings: Settings) -> None:
    """UsageError (before anything is written) if an estimated flow cannot be made at every gap:
    gap g needs clips of at least 2g frames (`estimators.base`)."""
    scene, gaps = settings.scene, scene_gaps(settings.scene)
    for method in (m for m in settings.flow if m != "gt"):
        try:
            check_clip_size(method, scene["frames"], scene["height"], scene["width"], gaps)
        except UsageError as err:
            raise UsageError(f"--flow {','.join(settings.flow)} with --gaps "
                             f"{','.join(map(str, gaps))} --frames {scene['frames']}: {err}") \
                from None


def scene_gaps(scene: dict) -> tuple[int, ...]:
    """The flow gaps of a dataset, from its scene settings (SceneConfig.to_dict(): `gaps`, set by
    `generate --gaps`; settings made before it hold none: (1,))."""
    return check_gaps(scene.get("gaps", DEFAULT_GAPS))


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 (16 hex digits) of the layersynth sources that decide shard content (all modules
    but the command line and the output-side ones in OUTPUT_SIDE)."""
    root = Path(__file__).parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if not rel.startswith(OUTPUT_SIDE):
            digest.update(rel.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def seed_sequence(settings: Settings, index: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(entropy=settings.seed, spawn_key=(settings.namespace, index))


def load_assets(asset_dirs: dict) -> Assets:
    """The assets of a dataset: built-in, or the user's folders (the one place generation touches
    external assets)."""
    if not any(asset_dirs.values()):
        return Assets.builtin()
    return load_user_assets(**asset_dirs)


@lru_cache(maxsize=2)
def _context(settings_json: str, device: str):
    """Per process: (settings, scene config, assets, estimators) of one dataset, built once."""

    settings = Settings.from_dict(json.loads(settings_json))
    if settings.generator_code != code_fingerprint():  # e.g. a Dask worker with other code
        raise GenerationError(f"this worker's layersynth code ({code_fingerprint()}) is not the "
                              f"code of the dataset ({settings.generator_code}); install the "
                              "same version everywhere")
    cfg = SceneConfig.from_dict(settings.scene)
    estimators = {m: build_estimator(m, settings, device) for m in settings.flow if m != "gt"}
    return settings, cfg, load_assets(settings.asset_dirs), estimators


def build_estimator(method: str, settings: Settings, device: str):
    """The estimator of a `--flow` method (torch loads only for raft)."""
    weights = (settings.raft_weights or {}).get("path")
    try:
        return build_flow_estimator(method, raft_weights=weights, device=device)
    except ImportError as err:  # e.g. raft without the optional torch/ptlflow installed
        raise UsageError(f"--flow {method}: flow estimators are not available ({err})") from err


def render_sequence(settings: Settings, cfg, assets, index: int):
    """(Sequence, record) of sequence `index`: sampled from its own seed, then rendered."""

    try:
        params = sample_scene(np.random.default_rng(seed_sequence(settings, index)), cfg, assets)
    except ValueError as err:  # e.g. no draw met --occlusion: a setting problem, said in one line
        raise GenerationError(f"sequence {manifest.seq_id(index)}: {err}") from None
    seq = render(params, assets)
    k, t, h, w = seq.shape
    stats = {"objects": k, "frames": t, "height": h, "width": w,
             "occlusion_fraction": float(occlusion_fraction(seq.amodal, seq.modal)),
             "order_changes": order_changes(seq.order)}
    record = {
        "seed": {"entropy": settings.seed, "spawn_key": [settings.namespace, index]},
        "scene": json.loads(json.dumps(params.to_dict())),
        "generator_version": settings.generator_version,
        "stats": stats,
    }
    return seq, record


def order_changes(order: np.ndarray) -> int:
    """Frames t of a (T, K) order where it differs from frame t - 1 (0: one order per clip)."""
    return int(np.count_nonzero(np.any(order[1:] != order[:-1], axis=1)))


def make_shard(job: dict) -> dict:
    """The per-shard task: render, estimate flows, write `job["out"]/shard-J.h5`; its entry.

    job: {"out": folder, "index": J, "ids": [sequence indices], "settings": Settings dict,
    "device": where estimators run}.
    """
    key = json.dumps(job["settings"], sort_keys=True)
    settings, cfg, assets, estimators = _context(key, job["device"])
    out, index, gaps = Path(job["out"]), job["index"], scene_gaps(settings.scene)
    made = [render_sequence(settings, cfg, assets, i) for i in job["ids"]]
    extra = {m: est.estimate_many([s.rgb for s, _ in made], gaps)
             for m, est in estimators.items()}
    file = manifest.shard_name(index)
    with ShardWriter(out / file, shard_index=index, settings=settings.to_dict(),
                     generator_version=settings.generator_version, gaps=gaps) as writer:
        for n, (i, (seq, record)) in enumerate(zip(job["ids"], made, strict=True)):
            arrays = dict(seq.arrays(), **{f"flow_{m}": flows[n] for m, flows in extra.items()})
            writer.add(manifest.seq_id(i), arrays, record, gaps=seq.gaps)
    return writer.entry


def run_jobs(jobs: list[dict], *, workers: int, scheduler: str | None,
             task=make_shard) -> Iterator[dict]:
    """Run per-shard tasks (`task(job)` -> manifest entry: `make_shard`, or the importer's);
    yield their entries in the order they finish."""
    if scheduler:
        yield from _run_dask(jobs, scheduler, task)
    elif workers == 1:
        yield from map(task, jobs)
    else:
        yield from _run_pool(jobs, workers, task)


def _exit_with_parent(parent: int) -> None:
    """Pool-worker initializer: leave when the main process is gone (kill -9 leaves workers
    orphaned, blocked on a queue nobody feeds); their partial files are removed on resume."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _run_pool(jobs: list[dict], workers: int, task) -> Iterator[dict]:
    pool = ProcessPoolExecutor(max_workers=workers, initializer=_exit_with_parent,
                               initargs=(os.getpid(),))
    try:
        futures = [pool.submit(task, job) for job in jobs]
        for future in as_completed(futures):
            yield future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def connect(scheduler: str):
    """A Dask client of an existing cluster; UsageError if it cannot be reached."""
    from distributed import Client  # ~0.5 s to import: only with --scheduler

    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as err:
        raise UsageError(f"--scheduler {scheduler}: cannot reach the Dask scheduler ({err})") \
            from err


def _run_dask(jobs: list[dict], scheduler: str, task) -> Iterator[dict]:
    from distributed import as_completed as dask_completed  # ~0.5 s: only with --scheduler

    client = connect(scheduler)
    try:
        futures = [client.submit(task, job, pure=False) for job in jobs]
        for future in dask_completed(futures, loop=client.loop):
            yield future.result()
    finally:
        client.close()


def plan(out: Path, settings: Settings, n: int, device: str = "cpu") -> tuple[list[dict], int]:
    """Prepare `out` for n sequences: (jobs still to run, sequences already done).

    Refuses (UsageError) a non-empty folder that is not a dataset, a dataset made with other
    settings, or an --n smaller than the dataset already holds (`prepare`). The caller holds the
    folder (`generate`).
    """
    done = prepare(out, settings.to_dict(), shard_size=settings.shard_size, n=n,
                   generator_version=settings.generator_version,
                   gaps=scene_gaps(settings.scene))
    todo = [j for j in range(manifest.n_shards(n, settings.shard_size)) if j not in done]
    jobs = [_job(out, j, settings, n, device) for j in todo]
    return jobs, n - sum(len(job["ids"]) for job in jobs)


def _job(out: Path, index: int, settings: Settings, n: int, device: str) -> dict:
    ids = [int(i) for i in manifest.expected_ids(index, settings.shard_size, n)]
    return {"out": str(out), "index": index, "ids": ids, "settings": settings.to_dict(),
            "device": device}


def generate(settings: Settings, *, n: int, out, workers: int, scheduler: str | None,
             device: str = "cpu") -> dict:
    """Make (or resume, or extend) the dataset in `out`, holding the folder throughout; return a
    summary dict. FolderInUse (a UsageError) if another run holds it."""

    out = Path(out)
    start = time.monotonic()
    check_estimable(settings)
    make_folder(out)
    with holding(out, "layersynth generate"):
        jobs, kept = plan(out, settings, n, device)
        data = write_shards(out, jobs, workers=workers, scheduler=scheduler)
    seconds = time.monotonic() - start
    made = n - kept
    frames = made * settings.scene["frames"]
    total = sum(e["bytes"] for e in data["shards"])
    return {"out": str(out), "sequences": n, "made": made, "kept": kept,
            "shards": len(data["shards"]), "bytes": total, "bytes_per_sequence": total / n,
            "seconds": seconds, "frames_per_second": frames / seconds if seconds else None,
            "workers": None if scheduler else workers, "scheduler": scheduler}


def write_shards(out: Path, jobs: list[dict], *, workers: int, scheduler: str | None,
                 task=make_shard) -> dict:
    """Run the shard tasks, listing each finished shard in the manifest as it comes, then write
    the dataset card; return the final manifest. The caller holds `out` (`holding`)."""
    entries = run_jobs(jobs, workers=workers, scheduler=scheduler, task=task)
    for entry in progress(entries, total=len(jobs), desc="shards"):
        manifest.put_entry(out, entry)
    data = manifest.load(out)
    card.write_card(out, data)
    return data


@contextlib.contextmanager
def holding(out: Path, command: str):
    """`folder_lock.hold`, with a folder it cannot write to (the lock file) said in one line."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(hold(out, command))
        except OSError as err:
            raise UsageError(f"{out}: cannot lock the output folder ({err.strerror})") from err
        yield
