"""``python -m agents.compare``: train GRPO, NSR and ResRL with the same seeds and budget, evaluate
each on held-out tasks, and write a results table and plots.

    python -m agents.compare --config configs/experiments/alfworld_easy.yaml --out runs/compare/alfworld_easy

With a ``warm_start`` section, the model is first fine-tuned on expert demonstrations
(``agents.warmstart``, into ``<out>/warm-start/``) and every algorithm starts from that model. Every
run is an ordinary ``agents.train`` run in ``<out>/<algo>-s<seed>/`` and every evaluation an
ordinary ``agents.eval`` in ``<out>/<name>/eval/`` (``base-s<seed>`` is the starting model), each in
its own process. With several ``seeds``, every algorithm trains once per seed, and the report gives
each held-out figure with a 95% interval from a bootstrap over seeds and tasks, and ResRL's paired
differences from the other algorithms on the same seeds and tasks (``agents.evaluation.report``). Finished steps
are kept: running the command again resumes an interrupted run and only redoes what is missing, then
rewrites ``results.md``, ``results.json`` and ``figures/*.png``. Same seeds on the same machine give
the same numbers.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml
from rich.console import Console

from agents.config import ExperimentConfig, load_experiment
from agents.evaluation.report import Report, RunRecord, write_report
from agents.generation.models import DEFAULT_MODEL
from agents.run_files import iteration_name
from agents.training.checkpoint import latest_checkpoint
from envs import eval_split
from envs.spec import ConfigError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m agents.compare", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--config", type=Path, required=True, help="an experiment YAML (configs/experiments/)")
    p.add_argument("--out", type=Path, help="results directory (default: runs/compare/<config name>)")
    p.add_argument("--report-only", action="store_true", help="only rewrite the report from what is in --out")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console()
    out = args.out or Path("runs/compare") / args.config.stem
    try:
        experiment = load_experiment(args.config)
        if (out / "experiment.yaml").is_file() and load_experiment(out / "experiment.yaml") != experiment:
            raise ConfigError(f"{out} holds a comparison with other settings ({out / 'experiment.yaml'}); "
                              "pass another --out")
    except ConfigError as error:
        console.print(f"[red]error:[/red] {error}", soft_wrap=True)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    run_file = out / "run.yaml"
    run_file.write_text(yaml.safe_dump(experiment.run_config().model_dump(), sort_keys=False))
    (out / "experiment.yaml").write_text(yaml.safe_dump(experiment.model_dump(), sort_keys=False))
    records = planned_runs(experiment, out)
    if not args.report_only:
        try:
            status = _run_all(records, experiment, run_file, out, console)
        except KeyboardInterrupt:
            console.print("interrupted: run the same command again to resume", soft_wrap=True)
            return 130
        if status != 0:
            return status
    report = Report.gather(experiment, records, args.config)
    write_report(report, out)
    console.print(f"results: {out / 'results.md'} (figures in {out / 'figures'})", soft_wrap=True)
    return 0


def _run_all(records: list[RunRecord], experiment: ExperimentConfig, run_file: Path, out: Path,
             console: Console) -> int:
    """Whatever is not done yet, in order; stops at the first failure (a rerun resumes there). A model
    whose ``eval/eval.json`` exists is done: its run's checkpoints are no longer needed, so a comparison
    can be carried elsewhere (or across machines) as each run's ``metrics.jsonl`` and ``eval/``."""
    pending = [record for record in records if not (record.eval_dir / "eval.json").is_file()]
    model = experiment.compare.model or DEFAULT_MODEL
    warm = experiment.compare.warm_start
    if warm is not None and pending:
        if not (out / "warm-start" / "model" / "config.json").is_file():
            console.rule("warm start")
            status = _run_timed(["agents.warmstart", "--config", str(run_file), "--model", model,
                                 "--demonstrations", str(warm.demonstrations), "--epochs", str(warm.epochs),
                                 "--lr", str(warm.learning_rate), "--batch-size", str(warm.batch_size),
                                 *(["--micro-batch-size", str(warm.micro_batch_size)] if warm.micro_batch_size else []),
                                 "--out", str(out / "warm-start")], out / "warm-start" / "wall_s", console)
            if status != 0:
                return status
        model = str(out / "warm-start" / "model")
    for record in pending:
        status = 0
        if record.run_dir and not finished(record.run_dir, experiment.train.iterations):
            status = _train(record, model, experiment.compare.backend, run_file, console)
        if status == 0:
            status = _evaluate(record, model, experiment, run_file, console)
        if status != 0:
            return status
    return 0


def planned_runs(experiment: ExperimentConfig, out: Path) -> list[RunRecord]:
    """Seed by seed, the starting model and then every algorithm, in the order they run: a comparison
    stopped part way holds whole seeds, whose paired differences already mean something."""
    records = []
    for seed in experiment.compare.seeds:
        records.append(RunRecord("base", seed, None, out / f"base-s{seed}" / "eval"))
        records += [RunRecord(algo, seed, out / f"{algo}-s{seed}", out / f"{algo}-s{seed}" / "eval")
                    for algo in experiment.compare.algorithms]
    return records


def finished(run_dir: Path, iterations: int) -> bool:
    """Whether the run's last iteration was checkpointed."""
    checkpoint = latest_checkpoint(run_dir)
    return checkpoint is not None and checkpoint.name == iteration_name(iterations)


def _train(record: RunRecord, model: str, backend: str, run_file: Path, console: Console) -> int:
    assert record.run_dir is not None
    args = ["--resume", str(record.run_dir)] if latest_checkpoint(record.run_dir) else [
        "--config", str(run_file), "--algo", record.algo, "--seed", str(record.seed), "--out", str(record.run_dir),
        "--model", model, "--backend", backend]
    console.rule(f"train {record.name}")
    return _run(["agents.train", *args], console)  # its metrics record its wall time, resumes included


def _evaluate(record: RunRecord, start_model: str, experiment: ExperimentConfig, run_file: Path,
              console: Console) -> int:
    settings = experiment.compare.eval
    checkpoint = latest_checkpoint(record.run_dir) if record.run_dir else None
    model = str(checkpoint / "model") if checkpoint else start_model
    args = ["--config", str(run_file), "--model", model, "--split", settings.split or eval_split(experiment.env.id),
            "--tasks", str(settings.tasks), "--samples", str(settings.samples), "--seed", str(record.seed),
            "--out", str(record.eval_dir), "--backend", experiment.compare.backend]
    if settings.temperature is not None:
        args += ["--temperature", str(settings.temperature)]
    console.rule(f"evaluate {record.name}")
    return _run_timed(["agents.eval", *args], record.eval_dir / "wall_s", console)


def _run_timed(module_args: list[str], timing: Path, console: Console) -> int:
    """Run ``python -m <module_args>``; record its wall time beside its results when it succeeds."""
    started = time.perf_counter()
    if _run(module_args, console) != 0:
        return 1
    timing.parent.mkdir(parents=True, exist_ok=True)
    timing.write_text(json.dumps(time.perf_counter() - started))
    return 0


def _run(module_args: list[str], console: Console) -> int:
    """Run ``python -m <module_args>``; on failure say how to go on."""
    status = subprocess.run([sys.executable, "-m", *module_args], check=False).returncode
    if status != 0:
        console.print(f"[red]error:[/red] python -m {' '.join(module_args)} exited with {status}; "
                      "run the same compare command again to resume", soft_wrap=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
