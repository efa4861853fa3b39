"""`layersynth datasets {verify,lock,fetch}`: external datasets against `datasets.lock`.

verify: exit 0 when every listed file is present and sound (extra files are reported, not failed),
1 when a file is missing or corrupt. lock: records the user's copy in ROOT. fetch: downloads a free
dataset (exit 1 if a download fails); for a gated one it prints where to get it and exits 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "datasets"
HELP = "verify, record (lock) or explicitly fetch the external datasets named in datasets.lock"
NAMES = ("pass", "ytvos", "videos")
SHOWN = 10  # file names printed per category in the table (the JSON: up to 1000)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="{verify,lock,fetch}")
    verify = actions.add_parser("verify", help="check a local copy: missing, corrupt, extra files")
    lock = actions.add_parser("lock", help="record a local copy (sizes, sha256) for later verify")
    fetch = actions.add_parser("fetch", help="download a free dataset (never done by generate)")
    for sub in (verify, lock, fetch):
        sub.add_argument("--name", required=True, choices=NAMES)
        sub.add_argument("--root", required=True, type=Path, help="the dataset's local folder")
        sub.add_argument("--lock", type=Path, default=None,
                         help="another lock file (default: the one shipped in the package)")
        sub.add_argument("--json", default=None, metavar="FILE", help="also write the JSON here")
    verify.add_argument("--sizes-only", action="store_true",
                        help="compare sizes, skip checksums (fast, weaker)")
    fetch.add_argument("--only", action="append", default=None, metavar="PATH",
                       help="fetch only this dataset file (repeatable), e.g. PASS.0.tar")


def run(args: argparse.Namespace) -> int:
    from layersynth.assets import lockfile as ds
    from layersynth.errors import UsageError

    try:
        spec = ds.get_spec(args.name, args.lock)
    except ds.LockError as err:
        raise UsageError(str(err)) from err
    if args.action != "fetch" and not args.root.is_dir():
        raise UsageError(f"{args.root}: no such directory")
    try:
        return {"verify": _verify, "lock": _lock, "fetch": _fetch}[args.action](spec, args)
    except ds.LockError as err:
        raise UsageError(str(err)) from err


def _each(desc: str):
    from layersynth.report import progress

    def wrap(items):
        items = list(items)
        return progress(items, total=len(items), desc=desc)

    return wrap


def _verify(spec, args) -> int:
    from layersynth.assets import lockfile as ds
    from layersynth.report import emit_json

    report = ds.verify(spec, args.root, hashes=not args.sizes_only,
                       each=_each(f"verify {spec.name}"))
    print(f"dataset     {spec.name}: {spec.title}, {spec.version}")
    print(f"root        {report.root}")
    print(f"lock        {report.lock}")
    print(f"ok          {len(report.ok)}")
    print(f"unverified  {len(report.unverified)}  (no published checksum: size only)")
    _listing("missing", report.missing)
    _listing("corrupt", [f"{p} ({r})" for p, r in report.corrupt])
    _listing("extra", report.extra)
    for note in report.notes:
        print(f"note        {note}")
    print(f"verdict     {'sound' if report.sound else 'NOT SOUND'}")
    emit_json(report.to_json(), args.json)
    return 0 if report.sound else 1


def _listing(label: str, items: list[str]) -> None:
    print(f"{label:<11} {len(items)}")
    for item in items[:SHOWN]:
        print(f"              {item}")
    if len(items) > SHOWN:
        print(f"              ... and {len(items) - SHOWN} more (up to 1000 in the JSON)")


def _lock(spec, args) -> int:
    from layersynth.assets import lockfile as ds
    from layersynth.report import emit_json

    path = ds.make_user_lock(spec, args.root, each=_each(f"lock {spec.name}"))
    entries = ds.read_user_lock(path, spec.name)
    total = sum(e.size or 0 for e in entries)
    print(f"recorded {len(entries)} files ({total / 1e6:.1f} MB) of {spec.name} in {path}")
    print(f"`layersynth datasets verify --name {spec.name} --root {args.root}` now checks them")
    emit_json({"name": spec.name, "root": str(args.root), "lock": str(path),
               "files": len(entries), "bytes": total}, args.json)
    return 0


def _fetch(spec, args) -> int:
    from layersynth.assets import fetch
    from layersynth.errors import UsageError
    from layersynth.report import emit_json, warn

    result = {"name": spec.name, "root": str(args.root)}
    unknown = sorted(set(args.only or ()) - {e.path for e in spec.files})
    if unknown:
        raise UsageError(f"--only {unknown[0]}: not a file of {spec.name} in the lock")
    try:
        done = fetch.fetch(spec, args.root, only=args.only, log=lambda s: warn(s))
    except fetch.GatedDataset as gated:
        print(f"{spec.name} ({spec.title}) cannot be downloaded by a program.")
        print(gated.instructions)
        emit_json({**result, "gated": True, "get": gated.instructions}, args.json)
        return 1
    except (fetch.FetchError, OSError) as err:
        print(f"layersynth datasets fetch: error: {err}", file=sys.stderr)
        return 1
    for path in done["fetched"]:
        print(f"fetched  {path}")
    for path in done["kept"]:
        print(f"kept     {path} (already present and sound)")
    emit_json({**result, "gated": False, **done}, args.json)
    return 0
