"""Confidence intervals for results over seeds and held-out tasks: a bootstrap that resamples both.

A comparison scores every model on the same held-out tasks, once per training seed, so each figure
is a matrix of cells, seeds × tasks (a cell: one task's success rate over its samples, its pass@k,
or its mean score, under one seed's run). Both seeds and tasks are draws from larger populations —
other seeds would train other models, other tasks would be harder or easier — so each bootstrap
replicate draws seeds with replacement and tasks with replacement (the same tasks for every seed,
as in the experiment) and takes the mean of the drawn cells; the interval is the replicates'
percentiles. A paired difference (same seeds, same tasks) is the same bootstrap on the matrix of
cell differences, which removes what the tasks' difficulty adds to the noise. The resampling is
seeded: the same results give the same intervals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RESAMPLES = 4000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """An estimate (the mean of every cell) with the bounds of its confidence interval."""

    estimate: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval lies entirely on one side of 0 (a significant difference)."""
        return self.low > 0 or self.high < 0

    def as_list(self) -> list[float]:
        return [self.estimate, self.low, self.high]

    def format(self, digits: int = 3, *, signed: bool = False) -> str:
        """``0.420 [0.310, 0.530]``; ``–`` where nothing was measured."""
        if math.isnan(self.estimate):
            return "–"
        sign = "+" if signed else ""
        return f"{self.estimate:{sign}.{digits}f} [{self.low:{sign}.{digits}f}, {self.high:{sign}.{digits}f}]"


NO_INTERVAL = Interval(math.nan, math.nan, math.nan)


def bootstrap(cells: Sequence[Sequence[float]] | np.ndarray, *, resamples: int = RESAMPLES,
              confidence: float = CONFIDENCE, seed: int = 0) -> Interval:
    """The mean of ``cells`` (seeds × tasks; NaN cells are left out) with a percentile interval from
    resampling seeds and tasks. One seed or one task leaves that dimension fixed."""
    matrix = np.asarray(cells, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"cells must be seeds × tasks, got shape {matrix.shape}")
    measured = ~np.isnan(matrix)
    if not measured.any():
        return NO_INTERVAL
    values = np.where(measured, matrix, 0.0)
    rng = np.random.default_rng(seed)
    seeds, tasks = matrix.shape
    rows = rng.integers(0, seeds, size=(resamples, seeds))
    columns = rng.integers(0, tasks, size=(resamples, tasks))
    # Each replicate's drawn cells: rows[r] × columns[r]; summed without building the 3-D array.
    row_counts = np.stack([np.bincount(r, minlength=seeds) for r in rows])  # resamples × seeds
    column_counts = np.stack([np.bincount(c, minlength=tasks) for c in columns])  # resamples × tasks
    totals = np.einsum("rs,st,rt->r", row_counts, values, column_counts)
    counts = np.einsum("rs,st,rt->r", row_counts, measured.astype(np.float64), column_counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        replicates = totals / counts
    replicates = replicates[counts > 0]
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(replicates, [tail, 100 - tail])
    return Interval(float(values.sum() / measured.sum()), float(low), float(high))


def paired_difference(first: Sequence[Sequence[float]] | np.ndarray, second: Sequence[Sequence[float]] | np.ndarray,
                      *, resamples: int = RESAMPLES, confidence: float = CONFIDENCE, seed: int = 0) -> Interval:
    """``first − second`` on the same seeds and tasks (cell by cell), with its bootstrap interval."""
    a, b = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a paired difference needs the same seeds and tasks, got {a.shape} and {b.shape}")
    return bootstrap(a - b, resamples=resamples, confidence=confidence, seed=seed)
