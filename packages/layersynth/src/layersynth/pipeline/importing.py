"""`layersynth import`: a folder in the released OCLR layout into shards of this project's schema.

The writing is generate's (`layersynth.pipeline.generation`): the same folder lock, manifest
written first, per-shard tasks on 1 process or a pool, each shard written under a temporary name
and renamed, listed in the manifest with its sha256 as it finishes, kept on a re-run only if its
file is the listed one, and the dataset card. What differs is the task (`import_shard`: read the
source files of its sequences instead of rendering) and the settings, which say where the data
came from: `{"kind": "imported", "source": {...}, "size", "shard_size", "flow": ["raft"], ...}`.

Sequence i of the dataset is the i-th sound source folder in sorted order, id `seq_id(i)`, in
shard i // S. The source is scanned first (names and headers, `oclr_import.scan_sequence`), before
the output folder is touched: a sequence with a bad file is skipped with a warning naming it and
counted (or, with `strict`, stops the import with that line), so ids never depend on a failure
half-way. A file that passes the scan but does not decode stops the import naming it; finished
shards stay listed and a re-run resumes.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from layersynth import __version__
from layersynth.errors import UsageError
from layersynth.pipeline.generation import holding, write_shards
from layersynth.pipeline.resume import make_folder, prepare
from layersynth.render.composition import occlusion_fraction
from layersynth.report import warn
from layersynth.store import manifest, oclr_import
from layersynth.store.oclr_import import SourceError, SourceSequence
from layersynth.store.schema import IMPORTED, encode
from layersynth.store.writer import ShardWriter

SHARD_SIZE = 16  # as generate's oclr preset: ~70 MB shards at 128 x 224
FLOW_METHOD = "raft"  # the released flows are RAFT's (REFERENCE.md section 7)


@dataclass(frozen=True)
class ImportConfig:
    """What an import reads: the source folder, the stored size (None: the source's own), the
    sequences per shard, and whether one bad sequence stops the import (`strict`)."""

    src: Path
    size: tuple[int, int] | None = None
    shard_size: int = SHARD_SIZE
    strict: bool = False

    def __post_init__(self):
        if self.shard_size < 1:
            raise UsageError(f"--shard-size {self.shard_size}: expected an integer >= 1")
        if self.size is not None and min(self.size) < 8:
            raise UsageError(f"--size {self.size[0]}x{self.size[1]}: expected at least 8x8")


def scan(cfg: ImportConfig) -> tuple[list[SourceSequence], list[str]]:
    """(sound sequences in sorted order, one problem line per skipped sequence), each skipped
    one warned about; SourceError (one line, no warnings) if none is sound."""
    sound, skipped = [], []
    for name in oclr_import.sequence_names(cfg.src):
        try:
            sound.append(oclr_import.scan_sequence(cfg.src, name))
        except SourceError as err:
            if cfg.strict:
                raise
            skipped.append((name, str(err)))
    if not sound:
        why = f" ({len(skipped)} skipped, first: {skipped[0][1]})" if skipped else ""
        raise SourceError(f"{cfg.src}: no sound sequence to import{why}")
    for name, problem in skipped:
        warn(f"{problem}; sequence {name} skipped")
    return sound, [problem for _, problem in skipped]


@lru_cache(maxsize=1)
def importer_code() -> str:
    """sha256 (16 hex digits) of the modules that decide an imported shard's content."""
    digest = hashlib.sha256()
    for path in (Path(oclr_import.__file__), Path(__file__)):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def make_settings(cfg: ImportConfig, sequences: list[SourceSequence], skipped: list[str]) -> dict:
    """The settings of an imported dataset (stored in the manifest and in every shard)."""
    listing = json.dumps([s.to_dict() for s in sequences], sort_keys=True).encode()
    sizes = {(s.height, s.width) for s in sequences}
    h, w = cfg.size or (sizes.pop() if len(sizes) == 1 else (None, None))
    frames = {len(s.frames) for s in sequences}
    return {
        "kind": IMPORTED,
        "source": {"format": "oclr", "root": str(cfg.src.resolve()), "sequences": len(sequences),
                   "skipped": skipped, "listing_sha256": hashlib.sha256(listing).hexdigest()},
        "size": list(cfg.size) if cfg.size else None,
        "scene": {"frames": frames.pop() if len(frames) == 1 else None, "height": h, "width": w},
        "flow": [FLOW_METHOD], "shard_size": cfg.shard_size,
        "generator_version": __version__, "importer_code": importer_code(),
    }


def sequence_record(seq: SourceSequence, arrays: dict) -> dict:
    """A sequence's record: where it came from, its original size, the filled end flows."""
    k, t, h, w = arrays["amodal"].shape
    return {
        "source": {"sequence": seq.name, "frames": list(seq.frames), "height": seq.height,
                   "width": seq.width},
        "filled_flows": [{"frame": f, "gap": (1, -1)[g]} for f, g in seq.filled],
        "generator_version": __version__,
        "stats": {"objects": k, "frames": t, "height": h, "width": w,
                  "occlusion_fraction": occlusion_fraction(arrays["amodal"], arrays["modal"])},
    }


def import_shard(job: dict) -> dict:
    """The per-shard task: read its sequences from the source, write `shard-J.h5`; its entry.

    job: {"out", "index": J, "src", "size": [H, W] or None, "settings": dict, "sequences":
    [[dataset index, SourceSequence dict], ...]}."""
    src, size = Path(job["src"]), tuple(job["size"]) if job["size"] else None
    file = manifest.shard_name(job["index"])
    with ShardWriter(Path(job["out"]) / file, shard_index=job["index"], settings=job["settings"],
                     generator_version=__version__, ground_truth=False) as writer:
        for i, seq_dict in job["sequences"]:
            seq = SourceSequence.from_dict(seq_dict)
            arrays = oclr_import.read_sequence(src, seq, size)
            writer.add(manifest.seq_id(i), arrays, sequence_record(seq, arrays))
    return writer.entry


def plan(out: Path, cfg: ImportConfig, sequences: list[SourceSequence],
         settings: dict) -> tuple[list[dict], int]:
    """Prepare `out` (generate's `prepare`): (jobs still to run, sequences already there)."""
    n = len(sequences)
    done = prepare(out, settings, shard_size=cfg.shard_size, n=n, generator_version=__version__)
    jobs = []
    for j in range(manifest.n_shards(n, cfg.shard_size)):
        if j not in done:
            ids = range(j * cfg.shard_size, min((j + 1) * cfg.shard_size, n))
            jobs.append({"out": str(out), "index": j, "src": str(cfg.src), "size": settings["size"],
                         "settings": settings,
                         "sequences": [[i, sequences[i].to_dict()] for i in ids]})
    return jobs, n - sum(len(job["sequences"]) for job in jobs)


def import_dataset(cfg: ImportConfig, out, *, workers: int = 1) -> dict:
    """Import `cfg.src` into `out` (or resume an interrupted import); return a summary dict."""
    out, start = Path(out), time.monotonic()
    sequences, skipped = scan(cfg)
    settings = make_settings(cfg, sequences, skipped)
    make_folder(out)
    with holding(out, "layersynth import"):
        jobs, kept = plan(out, cfg, sequences, settings)
        manifest.record_estimator(out, FLOW_METHOD, {
            "provenance": "imported", "source": settings["source"]["root"],
            "files": "Flows_gap1/, Flows_gap-1/ (.flo)",
            "filled_end_flows": sum(len(s.filled) for s in sequences)})
        data = write_shards(out, jobs, workers=workers, scheduler=None, task=import_shard)
    seconds = time.monotonic() - start
    frames = sum(len(sequences[i].frames) for job in jobs for i, _ in job["sequences"])
    return {"out": str(out), "source": settings["source"]["root"], "sequences": len(sequences),
            "made": len(sequences) - kept, "kept": kept, "skipped": len(skipped),
            "shards": len(data["shards"]), "frames": frames,
            "bytes": sum(e["bytes"] for e in data["shards"]), "source_bytes": folder_bytes(cfg.src),
            "seconds": seconds, "frames_per_second": frames / seconds if seconds else None,
            "workers": workers}


def folder_bytes(root: Path) -> int:
    """Bytes of the files under `root` (the size on disk a source is compared by)."""
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(root) for f in files)


def source_checker(settings_json: str):
    """`validate --deep` of an imported dataset: a function (shard, seq_id) -> problems that
    reads the sequence's source files again and compares every array bit for bit (as stored)."""
    settings = json.loads(settings_json)
    src, size = Path(settings["source"]["root"]), settings["size"]

    def check(shard, seq_id: str) -> list[str]:
        record, stored = shard.record(seq_id), shard.read_stored(seq_id)
        name = record["source"]["sequence"]
        try:
            seq = oclr_import.scan_sequence(src, name)
            fresh = oclr_import.read_sequence(src, seq, tuple(size) if size else None)
        except SourceError as err:
            return [f"source: {err}"]
        if list(seq.frames) != record["source"]["frames"]:
            return [f"source {name}: frames differ from those imported"]
        return [f"{n} differs from the source ({name})" for n, a in sorted(fresh.items())
                if not np.array_equal(encode(n, a)[0], stored.get(n))]

    return check
