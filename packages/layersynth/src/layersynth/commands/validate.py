"""`layersynth validate DIR [--deep]`: schema, checksums, every sequence readable (and regenerable).

Exit 0 only if everything is sound; otherwise 1, with one line per problem naming the shard file
and the sequence. A missing or unreadable manifest is a usage error (exit 2).

--deep re-draws each sequence from its stored seed and compares its scene parameters and every
array `render` makes (stored encoding, bit for bit). Estimated flows (`flow_dis`, `flow_raft`) are
not re-estimated: RAFT on a GPU is not bit-reproducible.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

NAME = "validate"
HELP = "check shards against the schema and checksums; --deep regenerates every sequence"


def add_arguments(p) -> None:
    p.add_argument("dir", help="dataset folder (with manifest.json)")
    p.add_argument("--deep", action="store_true",
                   help="regenerate each sequence from its seed and compare bit for bit")
    p.add_argument("--json", metavar="FILE", help="also write the result JSON here")


def check_shard(root: Path, entry: dict, deep_check=None) -> list[str]:
    """Problems of one shard (empty if sound): checksum, header, ids, every sequence decoded."""
    from layersynth import manifest
    from layersynth.shards import Shard, ShardError, check_sequence

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


def deep_checker(settings_dict: dict):
    """A function (shard, seq_id) -> problems that regenerates the sequence and compares it."""
    from layersynth.config import SceneConfig
    from layersynth.generate import Settings, load_assets, render_sequence
    from layersynth.shards import encode

    settings = Settings.from_dict(settings_dict)
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
    from layersynth import manifest

    listed = {i for e in data["shards"] for i in e["ids"]}
    missing = [manifest.seq_id(i) for i in range(data["n"]) if manifest.seq_id(i) not in listed]
    if not missing:
        return []
    return [f"manifest.json: {len(missing)} of {data['n']} sequences not generated yet "
            f"(first {missing[0]}); re-run the same generate command to finish"]


def run(args) -> int:
    from layersynth import manifest
    from layersynth.cliutil import emit_json, progress

    root = Path(args.dir)
    data = manifest.load(root)
    deep = deep_checker(data["settings"]) if args.deep else None
    problems = completeness(data)
    for entry in progress(data["shards"], total=len(data["shards"]), desc="shards"):
        found = check_shard(root, entry, deep)
        problems += found
        print(f"{entry['file']:18s} {len(entry['ids']):4d} sequences  "
              f"{'ok' if not found else 'BAD'}")
    for problem in problems:
        print(f"problem: {problem}")
    n_ids = sum(len(e["ids"]) for e in data["shards"])
    print(f"{'sound' if not problems else 'NOT sound'}: {len(data['shards'])} shards, "
          f"{n_ids} sequences{' (deep)' if args.deep else ''}, {len(problems)} problem(s)")
    emit_json({"ok": not problems, "deep": args.deep, "shards": len(data["shards"]),
               "sequences": n_ids, "problems": problems}, args.json)
    return 0 if not problems else 1
