"""Add estimated flow to the shards of an existing dataset, in place: what `layersynth flow` runs.

- Atomic per shard: the arrays go in through `writer.add_arrays` (the shard is rewritten under a
  temporary name and renamed over the old one; manifest.json is then updated), so an interrupted
  run leaves every shard either as it was or complete.
- Resumable: a shard whose manifest entry already lists `flow_<method>` is skipped; one whose file
  already holds it for every sequence (a run stopped between the rename and the manifest update)
  only has its manifest entry refreshed.
- Every stored gap: a shard's flow gaps (`Shard.gaps`, e.g. (1, 2)) are all estimated, pairs
  (t, t+g) and (t, t-g) for each g, the clip ends filled as `base` says, into one
  (T, 2 len(gaps), H, W, 2) array like flow_gt's.
- Batched: the frame pairs of several sequences go through the estimator together, so a GPU sees
  full batches; a shard's sequences are taken in groups of at most `max_pairs` pairs (memory).
- Runs on the same folder may overlap (several GPUs, `part`, or another method): each shard's
  rewrite happens under an exclusive lock of that shard (a byte of `DIR/.flow.lock`) and reads
  the shard afresh, so no run drops another's arrays.
- Overlapped: shard j is written by a background thread while shard j + 1 is estimated.
- Never launders damage: a shard is rewritten only if its file's sha256 is the one manifest.json
  lists (checked under the shard's lock, before any shard of the pass is estimated and again just
  before its rewrite), since the rewrite records a fresh checksum. The one file allowed to differ
  is one a killed pass renamed before its manifest update: it already holds the flow everywhere,
  and every chunk of it is read through its checksum before it is re-listed. A damaged shard
  stops the pass with a ShardError naming it.
- Exclusive of `generate`: the pass holds the folder's lock (`folder_lock`, `DIR/.lock`) shared
  for its whole length, so flow passes run together while a `generate` on the folder (which holds
  it exclusively) and a flow pass refuse each other, naming the holder's pid.
"""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from layersynth.estimators.base import FlowEstimator, n_pairs
from layersynth.store import folder_lock, manifest
from layersynth.store.reader import Shard
from layersynth.store.schema import ShardError
from layersynth.store.writer import add_arrays, relist

LOCK_FILE = ".flow.lock"


@dataclass
class FlowPassReport:
    """What one pass did: shards written / skipped (already complete), sequences, frame pairs."""

    method: str
    array: str
    shards: int = 0
    written: int = 0
    skipped: int = 0
    sequences: int = 0
    pairs: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        rate = self.pairs / self.seconds if self.pairs and self.seconds > 0 else None
        return dict(asdict(self), pairs_per_s=rate)


def add_estimated_flow(
    root,
    estimator: FlowEstimator,
    *,
    part: tuple[int, int] = (0, 1),
    max_pairs: int = 1024,
    progress: Callable[[Iterable, int], Iterable] = lambda items, total: items,
) -> FlowPassReport:
    """Add `flow_<estimator.name>` to every sequence of the dataset at `root` that lacks it.

    part (i, n): only shards whose index is i modulo n (one process per GPU). progress: wraps the
    iteration over shards (e.g. `report.progress`). Raises ShardError for an unreadable dataset.
    A shard is written by a background thread while the next one is estimated (rewriting a
    shard takes about as long as RAFT on it on a GPU); at most one write is pending, and it is
    finished before this returns or raises.
    """
    root = Path(root)
    name = f"flow_{estimator.name}"
    manifest.load(root)  # a folder that is no dataset is named before any lock file is made
    with folder_lock.hold(root, "layersynth flow", shared=True):
        entries = [e for e in manifest.load(root)["shards"] if e["index"] % part[1] == part[0]]
        report = FlowPassReport(estimator.name, name, shards=len(entries))
        start = time.perf_counter()
        locks = ShardLocks(root)
        with contextlib.closing(locks):
            for entry in entries:  # refuse a damaged dataset before any shard changes
                with locks.hold(entry["index"]):
                    _check_file(root, entry["file"], name)
            _run_pass(root, entries, name, estimator, max_pairs, locks, report, progress)
    report.seconds = time.perf_counter() - start
    return report


def _run_pass(root: Path, entries: list[dict], name: str, estimator: FlowEstimator,
              max_pairs: int, locks: ShardLocks, report: FlowPassReport, progress) -> None:
    with ThreadPoolExecutor(max_workers=1) as writer:
        pending: Future | None = None
        for entry in progress(entries, len(entries)):
            if _complete(root, entry, name, locks):
                report.skipped += 1
                continue
            flows, gaps = _estimate_shard(root / entry["file"], estimator, max_pairs)
            _collect(pending, report)
            pending = writer.submit(_write_shard, root, entry, name, flows, gaps, locks)
        _collect(pending, report)


def _collect(pending: Future | None, report: FlowPassReport) -> None:
    """Wait for a shard write (re-raising its error) and count what it did."""
    if pending is None:
        return
    done = pending.result()
    if done is None:
        report.skipped += 1
        return
    flows, gaps = done
    report.written += 1
    report.sequences += len(flows)
    report.pairs += sum(n_pairs(len(f), gaps) for f in flows.values())


def _write_shard(
    root: Path, entry: dict, name: str, flows: dict, gaps: tuple[int, ...], locks: ShardLocks
) -> tuple[dict, tuple[int, ...]] | None:
    """Add the flows (at `gaps`) to one shard under its lock; (flows, gaps), or None if another
    run completed it meanwhile."""
    with locks.hold(entry["index"]):
        if _complete(root, entry, name, None):
            return None
        _check_file(root, entry["file"], name)
        # Under the shard's lock no run is writing it: a temporary copy left here is from a
        # killed run (an interrupted one removes its own).
        for stale in root.glob(f"{entry['file']}.tmp-*"):
            stale.unlink(missing_ok=True)
        add_arrays(root, entry["file"], {i: {name: f} for i, f in flows.items()})
    return flows, gaps


def _complete(root: Path, entry: dict, name: str, locks: ShardLocks | None) -> bool:
    """True if the shard already has `name` for every sequence; then its manifest entry says so
    (refreshed here if the file was ahead of it, under the shard's lock; None: caller holds it)."""
    if name in entry["arrays"]:
        return True
    with Shard(root / entry["file"]) as shard:
        done = all(name in shard.arrays(i) for i in shard.ids)
    if done:
        with locks.hold(entry["index"]) if locks else contextlib.nullcontext():
            _check_file(root, entry["file"], name)
            relist(root, entry["file"])
    return done


def _check_file(root: Path, file: str, name: str) -> None:
    """Refuse (ShardError) a shard whose file is not the one manifest.json lists, unless it is a
    complete rewrite a killed pass left unlisted: it holds `name` for every sequence and every
    chunk reads through its checksum. The caller holds the shard's lock."""
    entry = manifest.listed(root, file)  # afresh: another pass may have rewritten it meanwhile
    path = root / file
    if name in entry["arrays"] or manifest.sha256_file(path) == entry["sha256"]:
        return
    with Shard(path) as shard:
        if all(name in shard.arrays(i) for i in shard.ids):
            shard.verify()
            return
    raise ShardError(f"{path}: sha256 differs from manifest.json (damaged, or changed outside "
                     f"layersynth); not adding {name}, which would record a fresh checksum of it; "
                     f"run layersynth validate {root}")


def _estimate_shard(path: Path, estimator: FlowEstimator, max_pairs: int
                    ) -> tuple[dict[str, np.ndarray], tuple[int, ...]]:
    """({sequence id: (T, 2 len(gaps), H, W, 2) float32 flow}, gaps) for every sequence of one
    shard, at every gap the shard stores."""
    with Shard(path) as shard:
        clips = {i: shard.read(i, ["rgb"])["rgb"] for i in shard.ids}
        gaps = shard.gaps
    flows: dict[str, np.ndarray] = {}
    for group in _groups(clips, max_pairs, gaps):
        flows.update(zip(group, estimator.estimate_many([clips[i] for i in group], gaps),
                         strict=True))
    return flows, gaps


def _groups(clips: dict[str, np.ndarray], max_pairs: int,
            gaps: tuple[int, ...] = (1,)) -> Iterator[list[str]]:
    """Ids in runs of one frame size, each run at most `max_pairs` pairs (at least one clip)."""
    group: list[str] = []
    pairs = 0
    for seq_id, rgb in clips.items():
        n = n_pairs(len(rgb), gaps)
        if group and (pairs + n > max_pairs or rgb.shape[1:] != clips[group[0]].shape[1:]):
            yield group
            group, pairs = [], 0
        group.append(seq_id)
        pairs += n
    if group:
        yield group


class ShardLocks:
    """Exclusive per-shard locks across processes: byte `index` of DIR/.flow.lock, so runs on
    different shards proceed together. One descriptor is held open for the whole pass, because
    closing any descriptor of a file drops all of a process's POSIX locks on it. (Separate from
    the manifest's own lock, which `add_arrays` takes inside.)"""

    def __init__(self, root: Path) -> None:
        self._fh = open(root / LOCK_FILE, "a")

    @contextlib.contextmanager
    def hold(self, index: int) -> Iterator[None]:
        fcntl.lockf(self._fh, fcntl.LOCK_EX, 1, index)
        try:
            yield
        finally:
            fcntl.lockf(self._fh, fcntl.LOCK_UN, 1, index)

    def close(self) -> None:
        self._fh.close()
