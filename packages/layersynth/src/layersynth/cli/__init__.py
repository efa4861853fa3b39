"""Sub-commands of the `layersynth` CLI, one module each, discovered by `layersynth.cli.main`.

Each command module defines `command`, a click command (or group) named after the sub-command,
and imports nothing heavy at import time; `conventions` holds what every command line shares.
"""
