"""Validation of a generated dataset: checksums, schema, ids, and (deep) regeneration.

`check_all(root, entries, deep, workers)` yields the problems of each shard of the manifest; each
problem is one line naming the shard file and the sequence. Every stored flow gap is checked: the
shard's gaps are the manifest's, and each flow holds 2 len(gaps) maps of the sequence's size. The
deep check re-draws each sequence from its stored seed and compares its scene parameters, its flow
gaps and every array `render` makes (stored encoding, bit for bit; flow_gt at every gap).
Estimated flows (`flow_dis`, `flow_raft`) are not re-estimated: RAFT on a GPU is not
bit-reproducible. An imported dataset (no flow_gt) is checked against its schema without ground
truth, and deep means reading its source files again (`importing.source_checker`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np

from layersynth.pipeline.generation import Settings, code_fingerprint, load_assets, render_sequence
from layersynth.pipeline.importing import source_checker
from layersynth.report import warn
from layersynth.scene.config import SceneConfig
from layersynth.store import manifest
from layersynth.store.gaps import DEFAULT_GAPS
from layersynth.store.reader import ADVICE, Shard
from layersynth.store.schema import ShardError, check_sequence, encode, imported_from


def check_shard(root: Path, entry: dict, deep_check=None, ground_truth: bool = True,
                gaps: tuple[int, ...] = DEFAULT_GAPS) -> list[str]:
    """Problems of one shard (empty if sound): checksum, header, ids, flow gaps (the manifest's
    `gaps`), every sequence decoded (`ground_truth=False`: an imported dataset, without
    flow_gt)."""
    path = root / entry["file"]
    if not path.exists():
        return [f"{entry['file']}: missing"]
    if manifest.sha256_file(path) != entry["sha256"]:
        return [f"{entry['file']}: checksum differs from manifest.json (modified or corrupt)",
                *(_line(p, root) for p in damage_found(path))]
    try:
        shard = Shard(path)
    except ShardError as err:
        return [_line(str(err), root)]
    problems = []
    with shard:
        if shard.ids != entry["ids"]:
            problems.append(f"{entry['file']}: holds ids {shard.ids}, manifest says {entry['ids']}")
        if shard.gaps != tuple(gaps):
            problems.append(f"{entry['file']}: holds flow at gaps {list(shard.gaps)}, manifest "
                            f"says {list(gaps)}")
        for seq_id in shard.ids:
            try:
                arrays = shard.read(seq_id)
                check_sequence(arrays, ground_truth=ground_truth, gaps=shard.gaps)
                shard.record(seq_id)
                if deep_check:
                    found = deep_check(shard, seq_id)
                    problems += [f"{entry['file']}: {seq_id}: {p}" for p in found]
            except ShardError as err:  # names the file and the sequence already
                problems.append(_line(str(err), root))
            except (KeyError, ValueError) as err:
                problems.append(_line(f"{entry['file']}: {seq_id}: {err}", root))
    return problems


def _line(problem: str, root: Path) -> str:
    """A problem as validate prints it: paths relative to the dataset, no advice to validate."""
    return problem.replace(str(root) + "/", "").removesuffix(f"; {ADVICE}")


def damage_found(path: Path) -> list[str]:
    """Where a shard whose checksum differs is damaged: the ShardError of its header, or of each
    sequence with a damaged array or record. Shards without chunk checksums are not read (the
    decompressor could crash on their damaged bytes); [] if nothing is found."""
    try:
        with Shard(path) as shard:
            if not shard.has_checksums():
                return []
            return [p for p in map(lambda i: _sequence_damage(shard, i), shard.ids) if p]
    except ShardError as err:
        return [str(err)]


def _sequence_damage(shard: Shard, seq_id: str) -> str | None:
    try:
        shard.read_stored(seq_id)
        shard.record(seq_id)
    except ShardError as err:
        return str(err)
    return None


def shard_task(root: str, entry: dict, settings_json: str | None,
               ground_truth: bool = True, gaps: tuple[int, ...] = DEFAULT_GAPS) -> list[str]:
    """`check_shard` as a picklable task (deep when `settings_json` is given)."""
    deep = deep_checker(settings_json) if settings_json else None
    return check_shard(Path(root), entry, deep, ground_truth, gaps)


@lru_cache(maxsize=1)
def deep_checker(settings_json: str):
    """A function (shard, seq_id) -> problems that regenerates the sequence (or, imported, reads
    its source again) and compares it."""
    if imported_from(json.loads(settings_json)):
        return source_checker(settings_json)
    settings = Settings.from_dict(json.loads(settings_json))
    cfg, assets = SceneConfig.from_dict(settings.scene), load_assets(settings.asset_dirs)

    def check(shard, seq_id: str) -> list[str]:
        record, stored = shard.record(seq_id), shard.read_stored(seq_id)
        seq, fresh = render_sequence(settings, cfg, assets, int(seq_id))
        if record["seed"] != fresh["seed"]:
            return [f"seed {record['seed']} is not the seed of this id ({fresh['seed']})"]
        problems = [] if fresh["scene"] == record["scene"] else ["scene parameters differ"]
        if seq.gaps != shard.gaps:
            return [*problems, f"flow gaps {list(shard.gaps)} differ from its regeneration's "
                    f"{list(seq.gaps)}"]
        for name, array in seq.arrays().items():
            if not np.array_equal(encode(name, array)[0], stored.get(name)):
                problems.append(f"{name} differs from its regeneration")
        return problems

    return check


def completeness(data: dict) -> list[str]:
    """Sequences the manifest expects (n) but no shard lists yet: one problem line, or none."""
    listed = {i for e in data["shards"] for i in e["ids"]}
    missing = [manifest.seq_id(i) for i in range(data["n"]) if manifest.seq_id(i) not in listed]
    if not missing:
        return []
    command = "import" if imported_from(data["settings"]) else "generate"
    return [f"manifest.json: {len(missing)} of {data['n']} sequences not generated yet "
            f"(first {missing[0]}); re-run the same {command} command to finish"]


def warn_other_code(settings: dict) -> None:
    """Warn when the dataset was made by other generator code than this one (--deep compares)."""
    made_by = settings.get("generator_code", "")
    if made_by != code_fingerprint():
        warn(f"the dataset was made by generator code {made_by or '(unrecorded)'}, this is "
             f"{code_fingerprint()}: differences may come from the code, not the data")


def check_all(root: Path, entries: list[dict], deep: str | None, workers: int,
              ground_truth: bool = True, gaps: tuple[int, ...] = DEFAULT_GAPS
              ) -> Iterator[tuple[dict, list[str]]]:
    """Yield (entry, problems) per shard, in manifest order, on `workers` processes; `gaps`: the
    manifest's flow gaps."""
    if workers == 1:
        for entry in entries:
            yield entry, shard_task(str(root), entry, deep, ground_truth, gaps)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        args = [(str(root), e, deep, ground_truth, gaps) for e in entries]
        yield from zip(entries, pool.map(shard_task, *zip(*args, strict=True)), strict=True)
