"""The figures of a run's ``metrics.jsonl`` that people look at, in one table: what each is called,
how the terminal row shows it, which the replay viewer charts (served to it as JSON) and which a
comparison's report plots. The row written per iteration (``agents.train``) holds more keys than
these; the rest are for TensorBoard and for digging."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Metric:
    """One figure of a metrics row. ``column``: its header in the terminal row (None: not shown
    there) and ``fmt`` its format; ``chart``: charted by the viewer; ``figure``: the report's plot file;
    ``cumulative``: plotted as its running sum (a per-update change, whose sum is what moves)."""

    key: str
    label: str
    column: str | None = None
    fmt: str = "{:.3f}"
    chart: bool = False
    figure: str | None = None
    cumulative: bool = False


METRICS: tuple[Metric, ...] = (
    Metric("iteration", "iteration", "iter", "{:>4.0f}"),
    Metric("curriculum_level", "curriculum level", "level", "{:>5.0f}", chart=True),
    Metric("signal_groups", "groups with a learning signal", "signal", "{:>6.0f}", chart=True),
    Metric("groups_collected", "groups collected", "groups", "{:>6.0f}"),
    Metric("success_rate", "success rate", "success", "{:>7.2f}", chart=True, figure="success.png"),
    Metric("mean_return", "return", "return", "{:>7.3f}", chart=True),
    Metric("mean_reward", "mean reward", figure="reward.png"),
    Metric("mean_turns", "turns", "turns", "{:>5.1f}"),
    Metric("invalid_rate", "invalid replies", "invalid", "{:>7.2f}"),
    Metric("omega_negative", "mean ω on negative agent tokens", "ω neg", "{:>6.3f}", chart=True,
           figure="omega_negative.png"),
    Metric("positive_logprob_gain", "Δ log-likelihood of positive samples per update", "pos Δlp", "{:>7.4f}",
           figure="positive_loglik.png", cumulative=True),
    Metric("clip_fraction", "clipped ratios", "clip", "{:>6.3f}"),
    Metric("approx_kl", "KL", "kl", "{:>8.5f}", chart=True),
    Metric("entropy", "entropy", "entropy", "{:>7.3f}"),
    Metric("tokens_per_s", "tokens/s", "tok/s", "{:>6.1f}", chart=True),
    Metric("rollout_s", "rollout seconds", "rollout s", "{:>9.1f}"),
    Metric("update_s", "update seconds", "update s", "{:>8.1f}"),
    Metric("rollout_logprob_gap", "rollout vs trainer |Δ log p|", chart=True),
    Metric("tis_weight_mean", "mean TIS weight", chart=True),
)
COLUMNS = tuple(metric for metric in METRICS if metric.column)
CHARTS = tuple(metric for metric in METRICS if metric.chart)
FIGURES = tuple(metric for metric in METRICS if metric.figure)


def header() -> str:
    """The terminal row's header line, each name over its column."""
    return " ".join((metric.column or "").rjust(_width(metric)) for metric in COLUMNS)


def format_row(row: dict[str, float]) -> str:
    """The terminal row; a figure that does not exist this iteration (no update, no negatives) reads n/a."""
    return " ".join("n/a".rjust(_width(metric)) if math.isnan(value := row.get(metric.key, math.nan))
                    else metric.fmt.format(value).rjust(_width(metric)) for metric in COLUMNS)


def charts() -> list[dict[str, Any]]:
    """What the viewer charts, in order (its ``/api/metrics``)."""
    return [{"key": metric.key, "label": metric.label} for metric in CHARTS]


def _width(metric: Metric) -> int:
    return max(len(metric.fmt.format(0.0)), len(metric.column or ""))
