"""`layersynth validate DIR [--deep]`: schema, checksums, every sequence readable (and regenerable).

Exit 0 only if everything is sound; otherwise 1, with one line per problem naming the shard file
and the sequence. A missing or unreadable manifest is a usage error (exit 2).

--deep re-draws each sequence from its stored seed and compares its scene parameters and every
array `render` makes (stored encoding, bit for bit). Estimated flows (`flow_dis`, `flow_raft`) are
not re-estimated: RAFT on a GPU is not bit-reproducible.
"""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from pathlib import Path

import click
import numpy as np

from layersynth.cli.conventions import CONTEXT, AtLeast, OneLineCommand
from layersynth.report import emit_json, progress, warn
from layersynth.scene.config import SceneConfig
from layersynth.store import manifest
from layersynth.store.reader import Shard
from layersynth.store.schema import ShardError, check_sequence, encode

HELP = "check shards against the schema and checksums; --deep regenerates every sequence"


def check_shard(root: Path, entry: dict, deep_check=None) -> list[str]:
    """Problems of one shard (empty if sound): checksum, header, ids, every sequence decoded."""
    path = root / entry["file"]
    if not path.exists():
        return [f"{entry['file']}: missing"]
    if manifest.sha256_file(path) != entry["sha256"]:
        return [f"{entry['file']}: checksum differs from manifest.json (modified or corrupt)"]
    try:
        shard = Shard(path)
    except ShardError as err:
        return [str(err).replace(str(root) + "/", "")]
    problems = []
    with shard:
        if shard.ids != entry["ids"]:
            problems.append(f"{entry['file']}: holds ids {shard.ids}, manifest says {entry['ids']}")
        for seq_id in shard.ids:
            try:
                arrays = shard.read(seq_id)
                check_sequence(arrays)
                shard.record(seq_id)
                if deep_check:
                    found = deep_check(shard, seq_id)
                    problems += [f"{entry['file']}: {seq_id}: {p}" for p in found]
            except (ShardError, KeyError, ValueError) as err:
                problems.append(f"{entry['file']}: {seq_id}: {err}".replace(str(root) + "/", ""))
    return problems


def shard_task(root: str, entry: dict, settings_json: str | None) -> list[str]:
    """`check_shard` as a picklable task (deep when `settings_json` is given)."""
    deep = deep_checker(settings_json) if settings_json else None
    return check_shard(Path(root), entry, deep)


@lru_cache(maxsize=1)
def deep_checker(settings_json: str):
    """A function (shard, seq_id) -> problems that regenerates the sequence and compares it."""
    # The renderer loads scipy and numba (~0.8 s): only --deep needs it.
    from layersynth.pipeline.generation import Settings, load_assets, render_sequence

    settings = Settings.from_dict(json.loads(settings_json))
    cfg, assets = SceneConfig.from_dict(settings.scene), load_assets(settings.asset_dirs)

    def check(shard, seq_id: str) -> list[str]:
        record, stored = shard.record(seq_id), shard.read_stored(seq_id)
        seq, fresh = render_sequence(settings, cfg, assets, int(seq_id))
        if record["seed"] != fresh["seed"]:
            return [f"seed {record['seed']} is not the seed of this id ({fresh['seed']})"]
        problems = [] if fresh["scene"] == record["scene"] else ["scene parameters differ"]
        for name, array in seq.arrays().items():
            if not np.array_equal(encode(name, array)[0], stored.get(name)):
                problems.append(f"{name} differs from its regeneration")
        return problems

    return check


def completeness(data: dict) -> list[str]:
    listed = {i for e in data["shards"] for i in e["ids"]}
    missing = [manifest.seq_id(i) for i in range(data["n"]) if manifest.seq_id(i) not in listed]
    if not missing:
        return []
    return [f"manifest.json: {len(missing)} of {data['n']} sequences not generated yet "
            f"(first {missing[0]}); re-run the same generate command to finish"]


def warn_other_code(settings: dict) -> None:
    # With the renderer come scipy and numba (~0.8 s): only --deep needs the code's fingerprint.
    from layersynth.pipeline.generation import code_fingerprint

    made_by = settings.get("generator_code", "")
    if made_by != code_fingerprint():
        warn(f"the dataset was made by generator code {made_by or '(unrecorded)'}, this is "
             f"{code_fingerprint()}: differences may come from the code, not the data")


def check_all(root: Path, entries: list[dict], deep: str | None, workers: int):
    """Yield (entry, problems) per shard, in manifest order, on `workers` processes."""
    if workers == 1:
        for entry in entries:
            yield entry, shard_task(str(root), entry, deep)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        args = [(str(root), e, deep) for e in entries]
        yield from zip(entries, pool.map(shard_task, *zip(*args, strict=True)), strict=True)


@click.command("validate", cls=OneLineCommand, context_settings=CONTEXT, help=HELP,
               short_help=HELP)
@click.argument("root", metavar="DIR", help="dataset folder (with manifest.json)")
@click.option("--deep", is_flag=True,
              help="regenerate each sequence from its seed and compare bit for bit")
@click.option("--workers", type=AtLeast(1), default=1, metavar="WORKERS",
              help="processes checking shards in parallel (default 1)")
@click.option("--json", "json_file", metavar="FILE", help="also write the result JSON here")
def command(*, root: str, deep: bool, workers: int, json_file: str | None) -> int:
    data = manifest.load(root)
    settings_json = json.dumps(data["settings"], sort_keys=True) if deep else None
    if deep:
        warn_other_code(data["settings"])
    problems = completeness(data)
    results = check_all(Path(root), data["shards"], settings_json, workers)
    for entry, found in progress(results, total=len(data["shards"]), desc="shards"):
        problems += found
        print(f"{entry['file']:18s} {len(entry['ids']):4d} sequences  "
              f"{'ok' if not found else 'BAD'}")
    for problem in problems:
        print(f"problem: {problem}")
    n_ids = sum(len(e["ids"]) for e in data["shards"])
    print(f"{'sound' if not problems else 'NOT sound'}: {len(data['shards'])} shards, "
          f"{n_ids} sequences{' (deep)' if deep else ''}, {len(problems)} problem(s)")
    emit_json({"ok": not problems, "deep": deep, "shards": len(data["shards"]),
               "sequences": n_ids, "problems": problems}, json_file)
    return 0 if not problems else 1
