"""The `layersynth` command line: one sub-command per module of `layersynth.cli`.

Sub-commands are discovered with pkgutil, so adding a module (NAME, HELP, add_arguments, run)
to layersynth/commands/ adds a command without editing this file.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

from layersynth import __version__
from layersynth import cli as commands
from layersynth.cli.conventions import OneLineParser, run_main


def command_modules() -> dict:
    """{NAME: module} of every sub-command module, sorted by name."""
    found = {}
    for info in pkgutil.iter_modules(commands.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        if all(hasattr(module, a) for a in ("NAME", "HELP", "add_arguments", "run")):
            found[module.NAME] = module
    return dict(sorted(found.items()))


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog="layersynth",
        description="Layered synthetic videos with exact flow, amodal masks and depth order.",
    )
    parser.add_argument("--version", action="version", version=f"layersynth {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for name, module in command_modules().items():
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        args = build_parser().parse_args(argv)
        return args._run(args)

    return run_main("layersynth", body)


if __name__ == "__main__":
    sys.exit(main())
