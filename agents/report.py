"""The results of a comparison (``agents.compare``): gathered from its run directories into one
table (``results.md``, ``results.json``) and five plots (``figures/*.png``)."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean, pstdev
from typing import Any

from agents.checkpoint import read_metrics
from agents.config import ExperimentConfig

CURVES = {  # metrics.jsonl key → (figure file, y label)
    "success_rate": ("success.png", "training success rate"),
    "mean_reward": ("reward.png", "training mean reward"),
    "omega_negative": ("omega_negative.png", "mean ω on negative agent tokens"),
    "positive_logprob_gain": ("positive_loglik.png", "cumulative Δ log-likelihood of positive responses"),
}


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
    curves: dict[str, list[list[float]]] = field(default_factory=dict)  # metric → per seed, per iteration
    train_wall_s: list[float] = field(default_factory=list)
    eval_wall_s: list[float] = field(default_factory=list)


@dataclass
class Report:
    """Everything ``results.md`` shows."""

    config_file: str
    experiment: ExperimentConfig
    rows: list[Row]
    missing: list[str]

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
            for k, value in figures["pass_at_k"].items():
                row.pass_at_k[int(k)].append(value)
            for kind, value in figures["success_by_task_type"].items():
                row.success_by_task_type[kind].append(value)
            row.eval_wall_s.append(_read_json(record.eval_dir / "wall_s") or math.nan)
            if record.run_dir is not None:
                metrics = read_metrics(record.run_dir)
                for key in CURVES:
                    row.curves.setdefault(key, []).append([m.get(key, math.nan) for m in metrics])
                row.train_wall_s.append(metrics[-1].get("elapsed_s", math.nan) if metrics else math.nan)
        return cls(str(config_file), experiment, list(rows.values()), missing)

    def to_json(self) -> dict[str, Any]:
        return {
            "config": self.config_file,
            "experiment": self.experiment.model_dump(),
            "missing": self.missing,
            "results": [
                {"algo": r.algo, "seeds": r.seeds, "avg_at_k": r.avg_at_k, "mean_reward": r.mean_reward,
                 "pass_at_k": r.pass_at_k,
                 "success_by_task_type": r.success_by_task_type, "curves": r.curves,
                 "train_wall_s": r.train_wall_s, "eval_wall_s": r.eval_wall_s}
                for r in self.rows
            ],
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
    """The results table and the training summary as Markdown."""
    settings = report.experiment.compare.eval
    ks = sorted({k for row in report.rows for k in row.pass_at_k})
    kinds = sorted({kind for row in report.rows for kind in row.success_by_task_type} - {"all"})
    start = "the warm-started model" if report.experiment.compare.warm_start else "the starting model"
    lines = [
        f"Held-out evaluation: {settings.tasks} tasks × {settings.samples} samples, seeds "
        f"{', '.join(map(str, report.experiment.compare.seeds))} (mean ± std over seeds where there are several); "
        f"base is {start}, where every algorithm begins.",
        "",
        "| model | " + " | ".join([f"Avg@{settings.samples}", "mean reward", *(f"pass@{k}" for k in ks),
                                  *(f"success: {kind}" for kind in kinds)]) + " |",
        "|---" * (1 + 2 + len(ks) + len(kinds)) + "|",
    ]
    for row in report.rows:
        cells = [_stat(row.avg_at_k), _stat(row.mean_reward), *(_stat(row.pass_at_k.get(k, [])) for k in ks),
                 *(_stat(row.success_by_task_type.get(kind, [])) for kind in kinds)]
        lines.append(f"| {row.algo} | " + " | ".join(cells) + " |")
    trained = [row for row in report.rows if row.curves]
    if trained:
        lines += ["", "| training | success, first → last third | mean ω (negative tokens) | "
                      "Σ Δ log-lik positives | train wall time |", "|---|---|---|---|---|"]
        for row in trained:
            success = row.curves["success_rate"]
            thirds = [[mean(_thirds(seed)[i]) for seed in success] for i in (0, 2)]
            lines.append(f"| {row.algo} | {_stat(thirds[0])} → {_stat(thirds[1])} | "
                         f"{_stat([_nanmean(seed) for seed in row.curves['omega_negative']])} | "
                         f"{_stat([_nansum(seed) for seed in row.curves['positive_logprob_gain']])} | "
                         f"{_stat([s / 60 for s in row.train_wall_s], '{:.1f}')} min |")
    if report.missing:
        lines += ["", f"Not evaluated yet: {', '.join(report.missing)}."]
    return "\n".join(lines) + "\n"


def plot_curves(report: Report, figures: Path) -> None:
    """One figure per training curve, an algorithm per line (the mean over seeds)."""
    plt = _pyplot()
    for key, (name, label) in CURVES.items():
        fig, ax = plt.subplots(figsize=(6, 4))
        for row in report.rows:
            if key not in row.curves:
                continue
            per_iteration = [_nanmean(values) for values in zip(*row.curves[key], strict=True)]
            if key == "positive_logprob_gain":
                per_iteration = _cumulative(per_iteration)
            ax.plot(range(1, len(per_iteration) + 1), per_iteration, marker="o", markersize=3, label=row.algo)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_xlabel("iteration")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
        fig.tight_layout()
        fig.savefig(figures / name, dpi=120)
        plt.close(fig)


def plot_pass_at_k(report: Report, figures: Path) -> None:
    """pass@k against k on held-out tasks, the starting model included."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for row in report.rows:
        ks = sorted(row.pass_at_k)
        ax.plot(ks, [mean(row.pass_at_k[k]) for k in ks], marker="o", label=row.algo)
    ax.set_xscale("log", base=2)
    ticks = sorted({k for row in report.rows for k in row.pass_at_k})
    ax.set_xticks(ticks, [str(k) for k in ticks])
    ax.set_xlabel("k")
    ax.set_ylabel("pass@k (held-out)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(figures / "pass_at_k.png", dpi=120)
    plt.close(fig)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


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


def _nansum(values: Sequence[float]) -> float:
    return sum(v for v in values if not math.isnan(v))


def _cumulative(values: Sequence[float]) -> list[float]:
    total, out = 0.0, []
    for value in values:
        total += 0.0 if math.isnan(value) else value
        out.append(total)
    return out


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None
