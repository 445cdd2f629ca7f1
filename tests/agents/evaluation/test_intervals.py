"""The bootstrap over seeds and tasks, on synthetic results whose true difference is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agents.evaluation.intervals import Interval, bootstrap, paired_difference

SEEDS, TASKS = 3, 40


def experiment(rng: np.random.Generator, effect: float) -> tuple[np.ndarray, np.ndarray]:
    """Two algorithms scored on the same tasks under the same seeds: a task's difficulty and a seed's
    luck are shared, the algorithm adds ``effect`` to every cell, each cell has its own noise."""
    difficulty = rng.uniform(0.1, 0.8, size=TASKS)
    luck = rng.normal(0, 0.03, size=(SEEDS, 1))
    base = difficulty + luck
    first = base + effect + rng.normal(0, 0.1, size=(SEEDS, TASKS))
    second = base + rng.normal(0, 0.1, size=(SEEDS, TASKS))
    return first, second


@pytest.mark.parametrize("effect", [0.0, 0.08])
def test_the_paired_interval_covers_the_true_difference(effect: float) -> None:
    rng = np.random.default_rng(7)
    intervals = [paired_difference(*experiment(rng, effect), resamples=1000) for _ in range(200)]
    coverage = np.mean([i.low <= effect <= i.high for i in intervals])
    assert coverage >= 0.88  # nominal 0.95; three seeds make the bootstrap a little optimistic
    if effect:  # a real difference of about 3 standard errors is found nearly always
        assert np.mean([i.excludes_zero and i.low > 0 for i in intervals]) >= 0.8
    else:  # no difference: the interval covers 0 (false alarms at about the nominal rate)
        assert np.mean([i.excludes_zero for i in intervals]) <= 0.12


def test_pairing_removes_what_task_difficulty_adds() -> None:
    first, second = experiment(np.random.default_rng(3), 0.08)
    paired = paired_difference(first, second)
    separate = [bootstrap(first), bootstrap(second)]
    assert paired.high - paired.low < 0.8 * (separate[0].high - separate[0].low)
    assert paired.estimate == pytest.approx(first.mean() - second.mean())
    assert paired.excludes_zero and not separate[1].high < separate[0].low  # unpaired, the intervals overlap


def test_estimate_bounds_and_determinism() -> None:
    cells = np.random.default_rng(0).uniform(size=(2, 10))
    interval = bootstrap(cells, seed=5)
    assert interval.low < interval.estimate < interval.high
    assert interval.estimate == pytest.approx(cells.mean())
    assert bootstrap(cells, seed=5) == interval  # the same results give the same interval
    assert bootstrap(cells, seed=6) != interval


def test_one_seed_one_task_and_missing_cells() -> None:
    assert bootstrap([[0.25]]) == Interval(0.25, 0.25, 0.25)  # nothing to resample
    one_seed = bootstrap([[0.0, 1.0, 0.0, 1.0]])
    assert one_seed.estimate == 0.5 and 0 <= one_seed.low < 0.5 < one_seed.high <= 1
    with_gap = bootstrap([[1.0, math.nan], [0.0, 0.5]])
    assert with_gap.estimate == pytest.approx(0.5)  # NaN cells are left out, not counted as 0
    assert math.isnan(bootstrap([[math.nan]]).estimate)
    assert bootstrap([[math.nan]]).format() == "–"


def test_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match="same seeds and tasks"):
        paired_difference([[1.0, 2.0]], [[1.0]])
    with pytest.raises(ValueError, match="seeds × tasks"):
        bootstrap(np.array([1.0, 2.0]))
