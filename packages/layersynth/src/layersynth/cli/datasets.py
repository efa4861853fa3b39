"""`layersynth datasets {verify,lock,fetch}`: external datasets against `datasets.lock`.

verify: exit 0 when every listed file is present and sound (extra files are reported, not failed),
1 when a file is missing or corrupt. lock: records the user's copy in ROOT. fetch: downloads a free
dataset (exit 1 if a download fails); for a gated one it prints where to get it and exits 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from layersynth.assets import fetch
from layersynth.assets import lockfile as ds
from layersynth.cli.conventions import (
    CONTEXT,
    OneLineGroup,
    OutputFile,
    emit_result,
    output_folder_problem,
)
from layersynth.errors import UsageError
from layersynth.report import progress, warn

HELP = "verify, record (lock) or explicitly fetch the external datasets named in datasets.lock"
NAMES = ("pass", "ytvos", "videos")
SHOWN = 10  # file names printed per category in the table (the JSON: up to 1000)


@click.group("datasets", cls=OneLineGroup, context_settings=CONTEXT, help=HELP, short_help=HELP,
             subcommand_metavar="{verify,lock,fetch}")
def command() -> None:
    """The actions are its sub-commands."""


def dataset_options(action):
    """The options every action takes: --name, --root, --lock, --json."""
    for option in reversed([
        click.option("--name", required=True, type=click.Choice(NAMES),
                     metavar="{pass,ytvos,videos}"),
        click.option("--root", required=True, type=click.Path(path_type=Path), metavar="ROOT",
                     help="the dataset's local folder"),
        click.option("--lock", type=click.Path(path_type=Path), default=None, metavar="LOCK",
                     help="another lock file (default: the one shipped in the package)"),
        click.option("--json", "json_file", type=OutputFile(), default=None, metavar="FILE",
                     help="also write the JSON here"),
    ]):
        action = option(action)
    return action


def spec_of(name: str, lock: Path | None, root: Path | None = None, *, writes: bool = False):
    """The lock's entry for `name`; `root` (when given) must be a folder, one this command can
    write in if it `writes` (lock records the copy there, fetch downloads into it)."""
    try:
        spec = ds.get_spec(name, lock)
    except ds.LockError as err:
        raise UsageError(str(err)) from err
    if root is not None and not root.is_dir():
        raise UsageError(f"--root {root}: " + ("is a file, not a folder" if root.exists()
                                                else "no such directory"))
    problem = output_folder_problem(str(root)) if writes and root is not None else None
    if problem:
        raise UsageError(f"--root {root}: {problem}")
    return spec


@command.command("verify", help="check a local copy: missing, corrupt, extra files")
@dataset_options
@click.option("--sizes-only", is_flag=True, help="compare sizes, skip checksums (fast, weaker)")
def verify_command(*, name: str, root: Path, lock: Path | None, json_file: str | None,
           sizes_only: bool) -> int:
    spec = spec_of(name, lock, root)
    try:
        report = ds.verify(spec, root, hashes=not sizes_only, each=_each(f"verify {spec.name}"))
    except ds.LockError as err:
        raise UsageError(str(err)) from err
    print_report(spec, report)
    emit_result(report.to_json(), json_file)
    return 0 if report.sound else 1


@command.command("lock", help="record a local copy (sizes, sha256) for later verify")
@dataset_options
def lock_command(*, name: str, root: Path, lock: Path | None, json_file: str | None) -> int:
    spec = spec_of(name, lock, root, writes=True)
    try:
        path = ds.make_user_lock(spec, root, each=_each(f"lock {spec.name}"))
        entries = ds.read_user_lock(path, spec.name)
    except ds.LockError as err:
        raise UsageError(str(err)) from err
    total = sum(e.size or 0 for e in entries)
    print(f"recorded {len(entries)} files ({total / 1e6:.1f} MB) of {spec.name} in {path}")
    print(f"`layersynth datasets verify --name {spec.name} --root {root}` now checks them")
    emit_result({"name": spec.name, "root": str(root), "lock": str(path),
               "files": len(entries), "bytes": total}, json_file)
    return 0


@command.command("fetch", help="download a free dataset (never done by generate)")
@dataset_options
@click.option("--only", multiple=True, metavar="PATH",
              help="fetch only this dataset file (repeatable), e.g. PASS.0.tar")
def fetch_command(*, name: str, root: Path, lock: Path | None, json_file: str | None,
                  only: tuple[str, ...]) -> int:
    spec = spec_of(name, lock)
    problem = output_folder_problem(str(root))  # fetch makes ROOT if it is missing
    if problem:
        raise UsageError(f"--root {root}: {problem}")
    unknown = sorted(set(only) - {e.path for e in spec.files})
    if unknown:
        raise UsageError(f"--only {unknown[0]}: not a file of {spec.name} in the lock")
    result = {"name": spec.name, "root": str(root)}
    try:
        done = fetch.fetch(spec, root, only=list(only) or None, log=warn)
    except fetch.GatedDataset as gated:
        print(f"{spec.name} ({spec.title}) cannot be downloaded by a program.")
        print(gated.instructions)
        emit_result({**result, "gated": True, "get": gated.instructions}, json_file)
        return 1
    except ds.LockError as err:
        raise UsageError(str(err)) from err
    except (fetch.FetchError, OSError) as err:
        print(f"layersynth datasets fetch: error: {err}", file=sys.stderr)
        return 1
    for path in done["fetched"]:
        print(f"fetched  {path}")
    for path in done["kept"]:
        print(f"kept     {path} (already present and sound)")
    emit_result({**result, "gated": False, **done}, json_file)
    return 0


def _each(desc: str):
    def wrap(items):
        items = list(items)
        return progress(items, total=len(items), desc=desc)

    return wrap


def print_report(spec, report) -> None:
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


def _listing(label: str, items: list[str]) -> None:
    print(f"{label:<11} {len(items)}")
    for item in items[:SHOWN]:
        print(f"              {item}")
    if len(items) > SHOWN:
        print(f"              ... and {len(items) - SHOWN} more (up to 1000 in the JSON)")
