"""The metrics table: the terminal row lines up under its header, and a missing figure reads n/a."""

from __future__ import annotations

import math

from agents.metrics import CHARTS, COLUMNS, FIGURES, METRICS, format_row, header


def test_the_row_lines_up_under_its_header() -> None:
    row, top = format_row({metric.key: 1.0 for metric in METRICS}), header()
    assert len(row) == len(top)
    start = 0
    for metric in COLUMNS:  # each header sits over its own figure, right-aligned
        end = top.index(metric.column or "", start) + len(metric.column or "")
        assert row[start:end].strip() == metric.fmt.format(1.0).strip(), metric.key
        assert top[end:end + 1] in ("", " ") and row[end:end + 1] in ("", " ")
        start = end + 1


def test_a_missing_figure_reads_n_a_in_its_column() -> None:
    full = format_row({metric.key: 1.0 for metric in METRICS})
    gap = format_row({**{metric.key: 1.0 for metric in METRICS}, "omega_negative": math.nan})
    assert len(gap) == len(full) and "n/a" in gap and "n/a" not in full


def test_every_metric_is_shown_somewhere_and_named_once() -> None:
    assert len({metric.key for metric in METRICS}) == len(METRICS)
    assert all(metric.column or metric.chart or metric.figure for metric in METRICS)
    assert len({metric.figure for metric in FIGURES}) == len(FIGURES)
    assert {"success_rate", "omega_negative"} <= {metric.key for metric in CHARTS}
