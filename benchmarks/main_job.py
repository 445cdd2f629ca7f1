"""The main job as a new user runs it, over seeds: does the agent get better, and in what wall time?

For each seed, ``python -m agents.train --env alfworld --seed S`` (the README's command, nothing else
changed) in ``<out>/seed-S``; a seed whose run stopped is resumed, a finished one is kept. Then the
report: held-out success at the start, after the warm start and at the end, each change with its
standard error over the held-out tasks (paired), the wall time of each run, and a figure.

    python benchmarks/main_job.py --seeds 0 1 2 --out runs/main-job   # ~30 min per seed on 2 cores
    python benchmarks/main_job.py --out runs/main-job --report-only

The baseline is the starting model's held-out score in the same run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from agents.config import load_config
from agents.machine import describe
from agents.run_files import iteration_name, read_metrics
from agents.training.checkpoint import latest_checkpoint
from agents.training.heldout import HeldOutScore, change, read_scores
from envs.spec import config_path


def run_seed(seed: int, run: Path, iterations: int) -> None:
    checkpoint = latest_checkpoint(run)
    if checkpoint is not None and checkpoint.name == iteration_name(iterations):
        return
    args = ["--resume", str(run)] if checkpoint is not None else ["--env", "alfworld", "--seed", str(seed),
                                                                   "--out", str(run)]
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "agents.train", *args], check=True)
    wall = run / "wall_s.json"
    earlier = json.loads(wall.read_text()) if wall.is_file() else 0.0
    wall.write_text(json.dumps(earlier + time.perf_counter() - started))
    (run / "machine.txt").write_text(describe())


def report(out: Path, seeds: list[int]) -> None:
    print(f"{'seed':>4} {'start':>11} {'warm start':>11} {'end':>11} {'change (SE)':>16} {'RL only (SE)':>16} "
          f"{'wall min':>8}")
    runs = {}
    for seed in seeds:
        run = out / f"seed-{seed}"
        scores = {score.stage: score for score in read_scores(run)}
        if "start" not in scores or "end" not in scores:
            print(f"{seed:>4} not finished")
            continue
        runs[seed] = (scores, read_metrics(run))
        start, end = scores["start"], scores["end"]
        warm = scores.get("warm start")
        wall = json.loads((run / "wall_s.json").read_text()) / 60 if (run / "wall_s.json").is_file() else float("nan")
        machine = (run / "machine.txt").read_text() if (run / "machine.txt").is_file() else "machine not recorded"
        print(f"{seed:>4} {_score(start):>11} {_score(warm):>11} {_score(end):>11} {_change(start, end):>16} "
              f"{_change(warm, end):>16} {wall:>8.1f}  {machine}")
    if runs:
        figure(runs, out / "main_job.png")
        print(f"figure: {out / 'main_job.png'}")


def _score(score: HeldOutScore | None) -> str:
    return "-" if score is None else f"{score.success:.2f}±{score.stderr:.2f}"


def _change(first: HeldOutScore | None, last: HeldOutScore) -> str:
    if first is None:
        return "-"
    delta, stderr = change(first, last)
    return f"{delta:+.2f} ({stderr:.2f}, {delta / stderr:+.1f}σ)" if stderr > 0 else f"{delta:+.2f} (n/a)"


def figure(runs: dict[int, tuple[dict[str, HeldOutScore], list[dict[str, float]]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (held, train) = plt.subplots(1, 2, figsize=(10, 3.6))
    for seed, (scores, rows) in runs.items():
        stages = [s for s in ("start", "warm start", "end") if s in scores]
        held.errorbar(range(len(stages)), [scores[s].success for s in stages],
                      yerr=[scores[s].stderr for s in stages], marker="o", capsize=3, label=f"seed {seed}")
        held.set_xticks(range(len(stages)), stages)
        iterations = [row["iteration"] for row in rows]
        line = train.plot(iterations, [row["success_rate"] for row in rows], marker="o", label=f"seed {seed} success")
        train.step(iterations, [row["curriculum_level"] / 2 for row in rows], where="mid", linestyle=":",
                   color=line[0].get_color(), label=f"seed {seed} level / 2")
    held.set_ylabel("held-out success (± SE)")
    held.set_ylim(-0.05, 1.05)
    held.legend()
    train.set_xlabel("iteration")
    train.set_ylabel("training success; curriculum level / 2")
    train.set_ylim(-0.05, 1.05)
    train.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("runs/main-job"))
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    if not args.report_only:
        iterations = load_config(config_path("alfworld")).train.iterations
        for seed in args.seeds:
            run_seed(seed, args.out / f"seed-{seed}", iterations)
    report(args.out, args.seeds)


if __name__ == "__main__":
    main()
