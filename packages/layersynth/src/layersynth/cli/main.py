"""The `layersynth` command line: one click group, one sub-command per module of `layersynth.cli`.

A module of this package that defines `command` (a click command or group) is a sub-command,
found with pkgutil whenever the group lists its commands: adding a module adds a command without
editing this file. Command modules import nothing heavy (torch, h5py, cv2, ptlflow, dask) at
import time, so `layersynth --help` stays fast.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from types import ModuleType

import click

from layersynth import __version__
from layersynth import cli as commands
from layersynth.cli.conventions import CONTEXT, OneLineGroup, run_command

PROG = "layersynth"


def command_modules() -> dict[str, ModuleType]:
    """{command name: module} of every module of layersynth.cli that defines a click `command`,
    sorted by name."""
    found = {}
    for info in pkgutil.iter_modules(commands.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        if isinstance(getattr(module, "command", None), click.Command):
            found[module.command.name] = module
    return dict(sorted(found.items()))


class Layersynth(OneLineGroup):
    """The group whose sub-commands are those `command_modules` finds."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(command_modules())

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        module = command_modules().get(name)
        return module.command if module else None


@click.group(PROG, cls=Layersynth, context_settings=CONTEXT, subcommand_metavar="COMMAND ...",
             help="Layered synthetic videos with exact flow, amodal masks and depth order.")
@click.version_option(__version__, "--version", prog_name=PROG, message="%(prog)s %(version)s")
def group() -> None:
    """Sub-commands do the work."""


def main(argv: list[str] | None = None) -> int:
    """The console script: run `layersynth ARGV...`; returns the exit status."""
    return run_command(group, argv, prog=PROG)


if __name__ == "__main__":
    sys.exit(main())
