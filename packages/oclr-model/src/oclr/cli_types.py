"""Option types the oclr command lines share beyond layersynth's (`AtLeast`, `Parsed`, ...): a
bad value is refused while click parses, before any work, as "--opt VALUE: problem"."""

from __future__ import annotations

import math

import click
from layersynth.cli.conventions import refuse


class Number(click.types.FloatParamType):
    """A finite float above `minimum` (or equal to it when `or_equal`): "--lr -1: must be a
    finite number > 0"."""

    def __init__(self, minimum: float = 0.0, *, or_equal: bool = False):
        self.minimum, self.or_equal = minimum, or_equal

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        low = number >= self.minimum if self.or_equal else number > self.minimum
        if not (math.isfinite(number) and low):
            bound = ">=" if self.or_equal else ">"
            refuse(param, value, f"must be a finite number {bound} {self.minimum:g}")
        return number


class IntBetween(click.types.IntParamType):
    """An integer in [low, high]: "--seed -1: must be in 0..4294967295"."""

    def __init__(self, low: int, high: int):
        self.low, self.high = low, high

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not self.low <= number <= self.high:
            refuse(param, value, f"must be in {self.low}..{self.high}")
        return number


# The choices of --order-readout (oclr-eval, oclr-infer): ModelConfig's ORDER_READOUTS, written
# here so that `--help` needs no torch (tests/oclr/test_readout.py holds the two equal).
ORDER_READOUTS = ("head", "occlusion", "occlusion_frame")
ORDER_READOUT_HELP = ("where the depth order comes from: the order head, or the occlusion readout "
                      "per clip or per frame (default: as the checkpoint says)")
# The choices of --spares (oclr-eval, oclr-infer): ModelConfig's SPARES, written here for the
# same reason (tests/oclr/test_readout.py holds the two equal).
SPARES = ("drop", "behind", "keep")
SPARES_HELP = ("what is done with the layers the checkpoint's objectness head calls spare: "
               "emptied, put behind the others, or kept (default: as the checkpoint says)")
