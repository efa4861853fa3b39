"""Sub-commands of the `layersynth` CLI, one module each, discovered by `layersynth.cli.main`.

Each module defines NAME (the sub-command), HELP (one line), `add_arguments(parser)` and
`run(args) -> int`. Modules import heavy dependencies inside `run`, never at import time.
"""
