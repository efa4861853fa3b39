"""The project's input errors: what a bad option, file or value raises in library code.

The command lines (layersynth's and oclr's) turn an `InputError` into one line on stderr and exit
status 2, never a traceback; library code raises it with a message that names the file or option
and the problem. Subclasses say which kind of input was bad (e.g. `ShardError` for a shard).
"""

from __future__ import annotations


class InputError(Exception):
    """A problem with the user's input: reported as one line, exit status 2."""


UsageError = InputError  # the name the command lines and older code use
