"""The results of a comparison (``agents.compare``): gathered from its run directories into tables
(``results.md``, ``results.json``) and five plots (``figures/*.png``).

Every held-out figure comes with a 95% interval from a bootstrap over seeds and tasks
(``agents.evaluation.intervals``), and the reference algorithm (ResRL where it runs) is compared with each other
one on the same seeds and tasks: a paired difference whose interval either excludes 0 or does not."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean, pstdev
from typing import Any

import numpy as np

import resrl
from agents.config import ExperimentConfig
from agents.evaluation.intervals import CONFIDENCE, NO_INTERVAL, Interval, bootstrap, paired_difference
from agents.metrics import FIGURES
from agents.run_files import read_metrics


@dataclass(frozen=True)
class RunRecord:
    """One model of the comparison: the starting model (``algo="base"``, no run) or a training run."""

    algo: str
    seed: int
    run_dir: Path | None
    eval_dir: Path

    @property
    def name(self) -> str:
        return f"{self.algo}-s{self.seed}"


@dataclass
class Row:
    """An algorithm's figures, averaged over its seeds."""

    algo: str
    seeds: list[int]
    avg_at_k: list[float]  # one per seed
    mean_reward: list[float]
    pass_at_k: dict[int, list[float]]
    success_by_task_type: dict[str, list[float]]
    invalid_rate: list[float] = field(default_factory=list)  # share of held-out replies the env refused
    curves: dict[str, list[list[float]]] = field(default_factory=dict)  # metric → per seed, per iteration
    cells: dict[str, dict[int, list[float]]] = field(default_factory=dict)  # figure → seed → per held-out task
    train_wall_s: list[float] = field(default_factory=list)
    eval_wall_s: list[float] = field(default_factory=list)

    def per_seed(self, figure: str) -> list[float]:
        """A held-out figure (``avg_at_k``, ``mean_reward``, ``pass@k``) per seed."""
        if figure.startswith("pass@"):
            return self.pass_at_k.get(int(figure.removeprefix("pass@")), [])
        return list(getattr(self, figure))


@dataclass
class Report:
    """Everything ``results.md`` shows."""

    config_file: str
    experiment: ExperimentConfig
    rows: list[Row]
    missing: list[str]

    @property
    def figures(self) -> list[str]:
        """The held-out figures with intervals: ``avg_at_k``, ``mean_reward``, ``pass@k`` for each k."""
        ks = sorted({k for row in self.rows for k in row.pass_at_k})
        return ["avg_at_k", "mean_reward", *(f"pass@{k}" for k in ks)]

    def intervals(self) -> dict[str, dict[str, Interval]]:
        """Per model, each held-out figure's mean over seeds and tasks with its interval."""
        return {row.algo: {figure: bootstrap(list(row.cells[figure].values())) if figure in row.cells else NO_INTERVAL
                           for figure in self.figures} for row in self.rows}

    def differences(self) -> dict[str, dict[str, Interval]]:
        """Per held-out figure, paired on the seeds and tasks both were scored on: ``resrl − other`` for
        each other algorithm (does ResRL win?), then ``algorithm − base`` (did training help at all?)."""
        trained = sorted((row for row in self.rows if row.algo != "base"), key=lambda row: row.algo != "resrl")
        base = [row for row in self.rows if row.algo == "base"]
        pairs = [(trained[0], other) for other in trained[1:]]  # the reference: resrl, else the first
        pairs += [(row, start) for start in base for row in self.rows if row is not start]
        return {f"{first.algo} − {second.algo}": {figure: _paired(first, second, figure) for figure in self.figures}
                for first, second in pairs}

    def positive_likelihood(self) -> dict[str, Interval]:
        """Per algorithm, the mean change of its positive samples' log-likelihood per update (seeds ×
        iterations bootstrapped): above 0, updates raised the responses they learned from."""
        return {row.algo: bootstrap(_rectangular(row.curves["positive_logprob_gain"]))
                for row in self.rows if row.curves.get("positive_logprob_gain")}

    @classmethod
    def gather(cls, experiment: ExperimentConfig, records: Sequence[RunRecord], config_file: Path) -> Report:
        rows: dict[str, Row] = {}
        missing = []
        for record in records:
            figures = _read_json(record.eval_dir / "eval.json")
            if figures is None:
                missing.append(record.name)
                continue
            row = rows.setdefault(record.algo, Row(record.algo, [], [], [], defaultdict(list),
                                                          defaultdict(list)))
            row.seeds.append(record.seed)
            row.avg_at_k.append(figures["avg_at_k"])
            row.mean_reward.append(figures.get("mean_reward", math.nan))  # older eval.json files lack it
            row.invalid_rate.append(figures.get("invalid_rate", math.nan))  # and lack this too
            for k, value in figures["pass_at_k"].items():
                row.pass_at_k[int(k)].append(value)
            for kind, value in figures["success_by_task_type"].items():
                row.success_by_task_type[kind].append(value)
            for figure, values in _task_cells(figures).items():
                row.cells.setdefault(figure, {})[record.seed] = values
            row.eval_wall_s.append(_read_json(record.eval_dir / "wall_s") or math.nan)
            if record.run_dir is not None:
                metrics = read_metrics(record.run_dir)
                for metric in FIGURES:
                    row.curves.setdefault(metric.key, []).append([m.get(metric.key, math.nan) for m in metrics])
                row.train_wall_s.append(metrics[-1].get("elapsed_s", math.nan) if metrics else math.nan)
        return cls(str(config_file), experiment, list(rows.values()), missing)

    def to_json(self) -> dict[str, Any]:
        def listed(intervals: dict[str, Interval]) -> dict[str, list[float]]:
            return {name: interval.as_list() for name, interval in intervals.items()}

        return {
            "config": self.config_file,
            "experiment": self.experiment.model_dump(),
            "missing": self.missing,
            "results": [
                {"algo": r.algo, "seeds": r.seeds, "avg_at_k": r.avg_at_k, "mean_reward": r.mean_reward,
                 "pass_at_k": r.pass_at_k,
                 "success_by_task_type": r.success_by_task_type, "invalid_rate": r.invalid_rate,
                 "curves": r.curves,
                 "train_wall_s": r.train_wall_s, "eval_wall_s": r.eval_wall_s}
                for r in self.rows
            ],
            "intervals": {algo: listed(figures) for algo, figures in self.intervals().items()},  # [mean, low, high]
            "differences": {name: listed(figures) for name, figures in self.differences().items()},
            "positive_likelihood": listed(self.positive_likelihood()),
        }


def write_report(report: Report, out: Path) -> None:
    """``results.json``, ``results.md`` and ``figures/*.png`` in ``out``."""
    (out / "results.json").write_text(json.dumps(report.to_json(), indent=2, allow_nan=True))
    figures = out / "figures"
    figures.mkdir(exist_ok=True)
    plot_curves(report, figures)
    plot_pass_at_k(report, figures)
    (out / "results.md").write_text(markdown(report))


def markdown(report: Report) -> str:
    """The results tables as Markdown: held-out figures with intervals, paired differences, training."""
    settings = report.experiment.compare.eval
    seeds = sorted({seed for row in report.rows for seed in row.seeds})  # those evaluated so far
    figures = report.figures
    kinds = sorted({kind for row in report.rows for kind in row.success_by_task_type} - {"all"})
    start = "the warm-started model" if report.experiment.compare.warm_start else "the starting model"
    names = {"avg_at_k": f"Avg@{settings.samples}", "mean_reward": "mean score"}
    headers = [names.get(figure, figure) for figure in figures]
    invalid = any(not math.isnan(value) for row in report.rows for value in row.invalid_rate)
    lines = [
        f"Held-out evaluation: {settings.tasks} tasks × {settings.samples} samples per model and seed "
        f"(seeds {', '.join(map(str, seeds))}); base is {start}, where every algorithm begins. Each figure is "
        f"the mean over seeds and tasks with its {_percent()} interval from a bootstrap over both.",
        "",
        "| model | " + " | ".join(headers) + (" | invalid replies" if invalid else "") + " |",
        "|---" * (1 + len(figures) + invalid) + "|",
    ]
    intervals = report.intervals()
    for row in report.rows:
        cells = [_cell(intervals[row.algo][figure], row.per_seed(figure)) for figure in figures]
        if invalid:  # a model may win less because more of its replies are not actions at all
            cells.append(_stat([100 * value for value in row.invalid_rate], "{:.1f}%"))
        lines.append(f"| {row.algo} | " + " | ".join(cells) + " |")
    if kinds:  # a row per task type: Code has 14 families, too many for columns
        lines += ["", "Held-out success per task type (mean ± sd over seeds):", "",
                  "| task type | " + " | ".join(row.algo for row in report.rows) + " |",
                  "|---" * (1 + len(report.rows)) + "|"]
        lines += [f"| {kind} | " + " | ".join(_stat(row.success_by_task_type.get(kind, [])) for row in report.rows)
                  + " |" for kind in kinds]
    differences = report.differences()
    if differences:
        lines += ["", f"Paired differences (same seeds, same tasks) with {_percent()} intervals; **bold**: the "
                      "interval excludes 0, a significant difference.", "",
                  "| difference | " + " | ".join(headers) + " |", "|---" * (1 + len(figures)) + "|"]
        for name, values in differences.items():
            lines.append(f"| {name} | " + " | ".join(_significant(values[figure]) for figure in figures) + " |")
    trained = [row for row in report.rows if row.curves]
    if trained:
        likelihood = report.positive_likelihood()
        lines += ["", "| training | success, first → last third | mean ω (negative tokens) | "
                      "Δ log-lik positives per update | train wall time |", "|---|---|---|---|---|"]
        for row in trained:
            success = row.curves["success_rate"]
            thirds = [[mean(_thirds(seed)[i]) for seed in success] for i in (0, 2)]
            lines.append(f"| {row.algo} | {_stat(thirds[0])} → {_stat(thirds[1])} | "
                         f"{_stat([_nanmean(seed) for seed in row.curves['omega_negative']])} | "
                         f"{_significant(likelihood.get(row.algo, NO_INTERVAL), digits=4)} | "
                         f"{_stat([s / 60 for s in row.train_wall_s], '{:.1f}')} min |")
        lines += ["", "Δ log-lik positives: how much an update changed the mean per-token log-likelihood of its "
                      "positive samples (measured right before and after it), averaged over updates and seeds."]
    if report.missing:
        lines += ["", f"Not evaluated yet: {', '.join(report.missing)}."]
    return "\n".join(lines) + "\n"


def plot_curves(report: Report, figures: Path) -> None:
    """One figure per training curve, an algorithm per line: the mean over seeds, and a band (the
    interval over seeds at each iteration) where there are several."""
    plt = _pyplot()
    for metric in FIGURES:
        key = metric.key
        label = f"cumulative {metric.label}" if metric.cumulative else f"training {metric.label}"
        fig, ax = plt.subplots(figsize=(6, 4))
        for index, row in enumerate(report.rows):  # the row's index picks its colour: the same in every figure
            if not row.curves.get(key):
                continue
            per_seed = _rectangular(row.curves[key])
            if metric.cumulative:
                per_seed = np.nancumsum(per_seed, axis=1)
            bands = [bootstrap(per_seed[:, [i]]) for i in range(per_seed.shape[1])]
            steps = range(1, len(bands) + 1)
            ax.plot(steps, [b.estimate for b in bands], marker="o", markersize=3, label=row.algo, color=f"C{index}")
            if per_seed.shape[0] > 1:
                ax.fill_between(steps, [b.low for b in bands], [b.high for b in bands], color=f"C{index}",
                                alpha=0.2, linewidth=0)
        ax.xaxis.get_major_locator().set_params(integer=True)
        _finish(plt, fig, ax, "iteration", label, figures / str(metric.figure))


def plot_pass_at_k(report: Report, figures: Path) -> None:
    """pass@k against k on held-out tasks, the starting model included, with interval bands."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    intervals = report.intervals()
    for index, row in enumerate(report.rows):
        ks = sorted(row.pass_at_k)
        bands = [intervals[row.algo][f"pass@{k}"] for k in ks]
        if all(math.isnan(b.estimate) for b in bands):  # older eval.json files: no per-task results
            bands = [Interval(mean(row.pass_at_k[k]), math.nan, math.nan) for k in ks]
        ax.plot(ks, [b.estimate for b in bands], marker="o", label=row.algo, color=f"C{index}")
        ax.fill_between(ks, [b.low for b in bands], [b.high for b in bands], color=f"C{index}", alpha=0.15,
                        linewidth=0)
    ax.set_xscale("log", base=2)
    ticks = sorted({k for row in report.rows for k in row.pass_at_k})
    ax.set_xticks(ticks, [str(k) for k in ticks])
    _finish(plt, fig, ax, "k", "pass@k (held-out)", figures / "pass_at_k.png")


def _finish(plt: Any, fig: Any, ax: Any, xlabel: str, ylabel: str, path: Path) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def _task_cells(figures: dict[str, Any]) -> dict[str, list[float]]:
    """Per held-out task (in task order): its success rate, mean score and pass@k (empty for eval.json
    files written before per-task results were kept)."""
    tasks = [figures["per_task"][task] for task in sorted(figures.get("per_task", {}))]
    if not tasks:
        return {}
    cells = {"avg_at_k": [mean(map(float, t["successes"])) for t in tasks],
             "mean_reward": [mean(t["rewards"]) for t in tasks]}
    for k in map(int, figures["pass_at_k"]):
        cells[f"pass@{k}"] = [resrl.pass_at_k(len(t["successes"]), sum(t["successes"]), k) for t in tasks]
    return cells


def _paired(first: Row, second: Row, figure: str) -> Interval:
    a, b = first.cells.get(figure, {}), second.cells.get(figure, {})
    seeds = sorted(a.keys() & b.keys())
    if not seeds:
        return NO_INTERVAL
    return paired_difference([a[seed] for seed in seeds], [b[seed] for seed in seeds])


def _rectangular(per_seed: Sequence[Sequence[float]]) -> np.ndarray:
    """Seeds × iterations, NaN where a run has fewer iterations."""
    width = max(len(values) for values in per_seed)
    return np.array([list(values) + [math.nan] * (width - len(values)) for values in per_seed], dtype=np.float64)


def _cell(interval: Interval, per_seed: Sequence[float]) -> str:
    """The interval where per-task results exist, else the mean ± std over seeds as before."""
    return _stat(per_seed) if math.isnan(interval.estimate) else interval.format()


def _significant(interval: Interval, digits: int = 3) -> str:
    text = interval.format(digits, signed=True)
    return f"**{text}**" if interval.excludes_zero else text


def _percent() -> str:
    return f"{CONFIDENCE:.0%}"


def _stat(values: Sequence[float], fmt: str = "{:.3f}") -> str:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return "–"
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(mean(values))} ± {fmt.format(pstdev(values))}"


def _thirds(values: list[float]) -> tuple[list[float], list[float], list[float]]:
    size = max(len(values) // 3, 1)
    return values[:size], values[size:-size], values[-size:]


def _nanmean(values: Sequence[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return mean(kept) if kept else math.nan


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None
