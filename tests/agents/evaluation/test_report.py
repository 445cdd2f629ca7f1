"""A comparison's report over seeds, from run directories written here with known results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from agents.config import ExperimentConfig
from agents.evaluation.report import Report, RunRecord, markdown, write_report

SEEDS = (0, 1, 2)
TASKS = 12
SAMPLES = 4
ENV = {"id": "resrl/BFCL-v0", "kwargs": {"category": "simple_python"}}


def write_model(out: Path, algo: str, seed: int, win_rate: np.ndarray, gains: list[float] | None,
                invalid_rate: float = 0.1) -> RunRecord:
    """An evaluated model: task i won ``round(win_rate[i] * SAMPLES)`` times; a run when ``gains`` is given."""
    run = out / f"{algo}-s{seed}" if gains is not None else None
    eval_dir = (run or out / f"base-s{seed}") / "eval"
    eval_dir.mkdir(parents=True)
    per_task: dict[str, dict[str, list[Any]]] = {}
    for task, rate in enumerate(win_rate):
        wins = round(float(rate) * SAMPLES)
        per_task[f"task{task:05d}"] = {"successes": [True] * wins + [False] * (SAMPLES - wins),
                                       "rewards": [1.0] * wins + [0.25] * (SAMPLES - wins)}
    successes = [s for t in per_task.values() for s in t["successes"]]
    halves = [successes[: len(successes) // 2], successes[len(successes) // 2:]]  # two task types
    (eval_dir / "eval.json").write_text(json.dumps({
        "avg_at_k": float(np.mean(successes)), "mean_reward": 0.0, "pass_at_k": {"1": 0.0, "4": 0.0},
        "success_by_task_type": {"cap": float(np.mean(halves[0])), "drop": float(np.mean(halves[1]))},
        "per_task": per_task, "invalid_rate": invalid_rate}))
    if run is not None:
        rows = [{"iteration": i + 1, "success_rate": 0.5, "mean_reward": 0.5, "omega_negative": 0.9,
                 "positive_logprob_gain": gain, "elapsed_s": 60.0 * (i + 1)} for i, gain in enumerate(gains or [])]
        (run / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return RunRecord(algo, seed, run, eval_dir)


def test_the_report_gives_intervals_and_paired_differences(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    difficulty = rng.uniform(0.1, 0.7, size=TASKS)
    records = []
    for seed in SEEDS:
        records.append(write_model(tmp_path, "base", seed, difficulty, None))
        # resrl wins one more sample of four on every task than grpo; nsr wins the same as grpo
        records.append(write_model(tmp_path, "grpo", seed, difficulty, [0.02, 0.03, 0.01]))
        records.append(write_model(tmp_path, "nsr", seed, difficulty, [-0.01, 0.0, -0.02]))
        records.append(write_model(tmp_path, "resrl", seed, np.minimum(difficulty + 0.25, 1.0),
                                   [0.01, 0.0, float("nan")], invalid_rate=0.02 * (seed + 1)))
    experiment = ExperimentConfig.model_validate({"env": ENV, "compare": {"seeds": list(SEEDS), "eval": {
        "tasks": TASKS, "samples": SAMPLES}}})
    report = Report.gather(experiment, records, tmp_path / "experiment.yaml")

    intervals = report.intervals()
    grpo = intervals["grpo"]["avg_at_k"]
    assert grpo.estimate == np.mean([round(r * SAMPLES) / SAMPLES for r in difficulty])
    assert grpo.low < grpo.estimate < grpo.high

    differences = report.differences()
    assert list(differences) == ["resrl − grpo", "resrl − nsr", "grpo − base", "nsr − base", "resrl − base"]
    better = differences["resrl − grpo"]["avg_at_k"]
    assert better.excludes_zero and better.low > 0 and 0.2 < better.estimate <= 0.25
    assert differences["resrl − nsr"]["pass@1"].estimate == better.estimate  # pass@1 is the success rate
    assert differences["resrl − grpo"]["mean_reward"].estimate > 0  # a win scores 1, a loss 0.25
    unchanged = differences["grpo − base"]["avg_at_k"]  # grpo wins what the base won: no difference
    assert unchanged.estimate == 0 and not unchanged.excludes_zero
    assert differences["resrl − base"]["avg_at_k"].as_list() == better.as_list()

    likelihood = report.positive_likelihood()
    assert abs(likelihood["grpo"].estimate - 0.02) < 1e-12
    assert likelihood["nsr"].high <= 0 and likelihood["grpo"].low > 0
    assert abs(likelihood["resrl"].estimate - 0.005) < 1e-12  # an iteration without an update is left out

    table = markdown(report)
    assert "| resrl − grpo | **+0.2" in table and "| resrl − nsr |" in table
    assert "95% interval" in table
    assert "| task type | base | grpo | nsr | resrl |" in table
    cap = float(np.mean(np.round(difficulty[: TASKS // 2] * SAMPLES) / SAMPLES))  # the same for every seed
    assert f"| cap | {cap:.3f} ± 0.000 | {cap:.3f} ± 0.000 |" in table
    assert "| invalid replies |" in table.splitlines()[2]
    assert "| 4.0% ± 1.6% |" in next(line for line in table.splitlines() if line.startswith("| resrl |"))

    write_report(report, tmp_path)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["differences"]["resrl − grpo"]["avg_at_k"] == better.as_list()
    assert set(results["intervals"]) == {"base", "grpo", "nsr", "resrl"}
    write_report(Report.gather(experiment, records, tmp_path / "experiment.yaml"), tmp_path)
    assert json.loads((tmp_path / "results.json").read_text()) == results  # the same runs, the same report


def test_eval_files_without_per_task_results_still_report(tmp_path: Path) -> None:
    records = [write_model(tmp_path, algo, 0, np.full(TASKS, 0.5), [0.0]) for algo in ("grpo", "resrl")]
    for record in records:  # as written before per-task results were kept
        path = record.eval_dir / "eval.json"
        figures = json.loads(path.read_text())
        del figures["per_task"], figures["invalid_rate"]
        path.write_text(json.dumps(figures))
    experiment = ExperimentConfig.model_validate({"env": ENV, "compare": {"seeds": [0]}})
    report = Report.gather(experiment, records, tmp_path / "e.yaml")
    assert np.isnan(report.differences()["resrl − grpo"]["avg_at_k"].estimate)
    table = markdown(report)
    assert "| grpo | 0.500 |" in table  # the mean, without an interval
    assert "invalid replies" not in table  # no column of dashes
