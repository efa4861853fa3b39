"""Score summaries for people: pooled means of per-object scores, percentages, fixed-width tables.

Shared by the DAVIS-style evaluation (`oclr.evaluate`) and Syn-val (`oclr.eval_shards`). Scores
are fractions in [0, 1] everywhere in the results; only the printed tables show percentages.
NaN stands for "no value" (no object, no frame, no pair), and a table prints it as "-".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np


def mean_or_nan(values: Iterable[float]) -> float:
    """Mean of the non-NaN values; NaN when there is none."""
    v = np.asarray(list(values), dtype=np.float64)
    if not np.any(~np.isnan(v)):
        return float("nan")
    return float(np.nanmean(v))


def pooled_means(objects: Sequence[Mapping[str, float]], keys: Iterable[str]) -> dict[str, float]:
    """{key: mean_or_nan of objects[i][key] over all objects}, keys in the given order."""
    return {key: mean_or_nan(o[key] for o in objects) for key in keys}


def percent(x: float | None) -> str:
    """A fraction as a percentage with one decimal ("53.2"); "-" for None or NaN."""
    if x is None or math.isnan(x):
        return "-"
    return f"{100 * x:.1f}"


@dataclass(frozen=True)
class Column:
    """One column of a text table: its title, its width in characters, right- (">") or left-
    ("<") aligned; `clip` cuts longer cells to the width (long names) instead of widening."""

    title: str
    width: int
    align: str = ">"
    clip: bool = False

    def cell(self, value: object) -> str:
        spec = f"{self.align}{self.width}" + (f".{self.width}" if self.clip else "")
        return format(str(value), spec)


def table_row(columns: Sequence[Column], cells: Sequence[object]) -> str:
    """The cells, each padded to its column, separated by one space."""
    return " ".join(c.cell(v) for c, v in zip(columns, cells, strict=True))


def table_header(columns: Sequence[Column]) -> str:
    """The row of column titles."""
    return table_row(columns, [c.title for c in columns])
