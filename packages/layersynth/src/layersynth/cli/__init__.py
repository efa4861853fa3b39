"""The `layersynth` command line (click), one module per sub-command, found by `main`.

- `main`: the `layersynth` group and `main(argv)`, the console script's entry point.
- `conventions`: what every command line of the project shares (one-line errors, exit 2).
- `generate`, `flow`, `validate`, `inspect`, `preview`, `export`, `datasets`: the sub-commands;
  each parses options, builds a config and calls one library function.

Each command module defines `command`, a click command (or group) named after the sub-command,
and imports nothing heavy at import time; `conventions` holds what every command line shares.
"""
