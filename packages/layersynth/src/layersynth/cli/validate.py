"""`layersynth validate DIR [--deep]`: schema, checksums, every sequence readable (and regenerable).

Exit 0 only if everything is sound; otherwise 1, with one line per problem naming the shard file
and the sequence. A missing or unreadable manifest is a usage error (exit 2).

Every stored flow gap is checked (the shards' gaps are the manifest's, each flow holds 2 len(gaps)
maps). --deep re-draws each sequence from its stored seed and compares its scene parameters and
every array `render` makes (stored encoding, bit for bit; flow_gt at every gap). Estimated flows
(`flow_dis`, `flow_raft`) are not re-estimated: RAFT on a GPU is not bit-reproducible. An
imported dataset (`layersynth import`) has no flow_gt and no seeds: --deep reads its source files
again and compares instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from layersynth.cli.conventions import CONTEXT, AtLeast, OneLineCommand, OutputFile, emit_result
from layersynth.report import progress
from layersynth.scene.config import SceneConfig
from layersynth.store import manifest
from layersynth.store.schema import ShardError, imported_from

HELP = "check shards against the schema and checksums; --deep regenerates every sequence"


@click.command("validate", cls=OneLineCommand, context_settings=CONTEXT, help=HELP,
               short_help=HELP)
@click.argument("root", metavar="DIR", help="dataset folder (with manifest.json)")
@click.option("--deep", is_flag=True,
              help="regenerate each sequence from its seed and compare bit for bit")
@click.option("--workers", type=AtLeast(1), default=1, metavar="WORKERS",
              help="processes checking shards in parallel (default 1)")
@click.option("--json", "json_file", type=OutputFile(), metavar="FILE",
              help="also write the result JSON here")
def command(*, root: str, deep: bool, workers: int, json_file: str | None) -> int:
    # The checks load the renderer (scipy, numba: ~0.8 s), which `layersynth --help` need not.
    from layersynth.pipeline.validation import check_all, completeness, warn_other_code

    data = manifest.load(root)
    source = imported_from(data["settings"])
    settings_json = deep_settings(root, data["settings"]) if deep else None
    if deep and not source:
        warn_other_code(data["settings"])
    problems = completeness(data)
    results = check_all(Path(root), data["shards"], settings_json, workers,
                        ground_truth=source is None, gaps=manifest.gaps_of(data))
    for entry, found in progress(results, total=len(data["shards"]), desc="shards"):
        problems += found
        print(f"{entry['file']:18s} {len(entry['ids']):4d} sequences  "
              f"{'ok' if not found else 'BAD'}")
    for problem in problems:
        print(f"problem: {problem}")
    n_ids = sum(len(e["ids"]) for e in data["shards"])
    print(f"{'sound' if not problems else 'NOT sound'}: {len(data['shards'])} shards, "
          f"{n_ids} sequences{' (deep)' if deep else ''}, {len(problems)} problem(s)")
    emit_result({"ok": not problems, "deep": deep, "shards": len(data["shards"]),
               "sequences": n_ids, "problems": problems}, json_file)
    return 0 if not problems else 1


def deep_settings(root: str, settings: dict) -> str:
    """The settings as JSON for --deep, which rebuilds generate's settings and scene config from
    them: refused (ShardError naming manifest.json) if generate could not have written them."""
    from layersynth.pipeline.generation import Settings  # loads the renderer, as --deep does

    source = imported_from(settings)
    if source:  # --deep reads the source again: it must still be there
        if not Path(source).is_dir():
            raise ShardError(f"{Path(root) / manifest.MANIFEST}: imported from {source}, which is "
                             "no longer a folder; --deep compares against the source files")
        return json.dumps(settings, sort_keys=True)
    try:
        SceneConfig.from_dict(Settings.from_dict(settings).scene)
    except KeyError as err:
        raise ShardError(f"{Path(root) / manifest.MANIFEST}: settings: missing {err} (not "
                         "made by layersynth generate? --deep needs generate's settings)") from None
    except (TypeError, ValueError) as err:
        raise ShardError(f"{Path(root) / manifest.MANIFEST}: settings: {err}") from None
    return json.dumps(settings, sort_keys=True)
