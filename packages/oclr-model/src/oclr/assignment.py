"""Optimal one-to-one assignment of the rows of a score matrix to its columns (Hungarian method).

Every matching in oclr goes through here: predicted layers to target layers in the loss
(`oclr.matching`), predicted ids to DAVIS objects (`oclr.metrics`), predicted channels to Syn-val
objects (`oclr.eval_shards`), window channels to the previous window's or to GT objects
(`oclr.linking`).

Contract, for a score matrix (R, C) of finite floats:

- min(R, C) pairs (row, column), each row and each column in at most one pair, whose total score
  is the largest (`maximize=True`) or the smallest (`maximize=False`) of all such sets of pairs;
  pairs come sorted by row.
- `prefer_diagonal` = eps > 0 breaks ties towards keeping row i on column i: eps is added to
  every score[i, i] (subtracted when minimising) before solving. Pick eps below any score
  difference that should matter; the result is then optimal for the matrix with the bonus.
- Among assignments of equal total (and no tie-break), which one is returned is
  scipy.optimize.linear_sum_assignment's choice: deterministic for a given matrix.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def optimal_assignment(score: np.ndarray, *, maximize: bool, prefer_diagonal: float = 0.0
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols), each (min(R, C),) int64: row rows[i] is assigned to column cols[i], rows
    ascending, with the optimal total of `score` (R, C) (see the module docstring)."""
    score = np.asarray(score, dtype=np.float64)
    if score.ndim != 2:
        raise ValueError(f"score must be a 2-D (rows, columns) matrix, got shape {score.shape}")
    if prefer_diagonal:
        bonus = prefer_diagonal * np.eye(*score.shape)
        score = score + bonus if maximize else score - bonus
    rows, cols = linear_sum_assignment(score, maximize=maximize)
    return rows.astype(np.int64), cols.astype(np.int64)


def row_for_each_column(score: np.ndarray, *, maximize: bool, prefer_diagonal: float = 0.0
                        ) -> np.ndarray:
    """(C,) int64: the row assigned to each column of `score` (R, C), R >= C (every column is
    assigned; R - C rows are left out)."""
    rows, cols = optimal_assignment(score, maximize=maximize, prefer_diagonal=prefer_diagonal)
    n_rows, n_cols = np.shape(score)
    if n_rows < n_cols:
        raise ValueError(f"{n_rows} rows cannot cover {n_cols} columns: need rows >= columns")
    out = np.empty(n_cols, dtype=np.int64)
    out[cols] = rows
    return out


def column_for_each_row(score: np.ndarray, *, maximize: bool, prefer_diagonal: float = 0.0
                        ) -> np.ndarray:
    """(R,) int64: the column assigned to each row of `score` (R, C), R <= C (every row is
    assigned; C - R columns are left out)."""
    _, cols = optimal_assignment(score, maximize=maximize, prefer_diagonal=prefer_diagonal)
    n_rows, n_cols = np.shape(score)
    if n_rows > n_cols:
        raise ValueError(f"{n_cols} columns cannot cover {n_rows} rows: need rows <= columns")
    return cols  # every row is assigned and the pairs come sorted by row
