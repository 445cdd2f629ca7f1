"""``python -m agents.compare`` as a user runs it: a tiny model, BFCL simple_python, a warm start,
two algorithms, real training and evaluation subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from agents.config import load_experiment
from tests.agents.conftest import GENERATED_ALFWORLD

REPO = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"


def experiment(model: Path, seeds: tuple[int, ...] = (3, 4)) -> dict[str, Any]:
    return {
        "env": {"id": "resrl/BFCL-v0", "kwargs": {"category": "simple_python", "split": "train"}},
        "rollout": {"max_new_tokens": 24, "max_turns": 1, "workers": 1, "envs_per_worker": 4, "worker_cpus": 0},
        "train": {"iterations": 2, "tasks_per_iter": 2, "group_size": 2, "mini_batch_size": 4, "micro_batch_size": 2,
                  "learning_rate": 1e-3, "rank": 4},
        "compare": {"algorithms": ["grpo", "resrl"], "seeds": list(seeds), "model": str(model), "backend": "hf",
                    "warm_start": {"demonstrations": 4, "batch_size": 2, "micro_batch_size": 1,
                                   "learning_rate": 1e-3},
                    "eval": {"tasks": 2, "samples": 2}},
    }


def compare(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agents.compare", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=900, env=os.environ)


def figures_of(results: dict[str, Any]) -> dict[str, Any]:
    """What a rerun must reproduce: every figure and interval, but the wall times."""
    rows = [{k: v for k, v in row.items() if not k.endswith("wall_s")} for row in results["results"]]
    return {"rows": rows} | {key: results[key] for key in ("intervals", "differences", "positive_likelihood")}


@pytest.mark.slow
def test_compare_trains_evaluates_reports_and_reproduces(tiny_model_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(experiment(tiny_model_dir)))
    first = compare("--config", str(config), "--out", str(tmp_path / "first"))
    assert first.returncode == 0, first.stdout + first.stderr

    out = tmp_path / "first"
    results = json.loads((out / "results.json").read_text())
    rows = {row["algo"]: row for row in results["results"]}
    assert list(rows) == ["base", "grpo", "resrl"] and results["missing"] == []
    warm = json.loads((out / "warm-start" / "warmstart.json").read_text())
    assert warm["demonstrations"] == 4 and len(warm["losses"]) == 2 and warm["micro_batch_size"] == 1
    assert [row["seeds"] for row in results["results"]] == [[3, 4]] * 3  # every algorithm with every seed
    grpo = rows["grpo"]
    per_seed = {"avg_at_k": grpo["avg_at_k"], "mean_reward": grpo["mean_reward"],
                "pass@1": grpo["pass_at_k"]["1"], "pass@2": grpo["pass_at_k"]["2"]}
    for figure, values in per_seed.items():  # over seeds and tasks, the mean is that of the seeds' figures
        assert results["intervals"]["grpo"][figure][0] == pytest.approx(sum(values) / 2)
        estimate, low, high = results["differences"]["resrl − grpo"][figure]
        assert low <= estimate <= high
    assert set(results["positive_likelihood"]) == {"grpo", "resrl"}
    base = json.loads((out / "base-s3" / "eval" / "eval.json").read_text())
    assert base["model"] == str(out / "warm-start" / "model") and base["env"]["kwargs"]["split"] == "eval"
    for algo in ("grpo", "resrl"):
        run = out / f"{algo}-s3"
        config_saved = yaml.safe_load((run / "config.yaml").read_text())
        assert config_saved["train"]["algo"] == algo and config_saved["run"]["seed"] == 3
        assert config_saved["run"]["model"] == str(out / "warm-start" / "model")  # every algorithm starts there
        assert len(rows[algo]["curves"]["success_rate"][0]) == 2  # one point per iteration
        assert (run / "eval" / "eval.json").is_file() and rows[algo]["train_wall_s"][0] > 0
    eval_report = json.loads((out / "grpo-s3" / "eval" / "eval.json").read_text())
    assert eval_report["episodes"] == 4 and eval_report["model"].endswith("iter-000002/model")
    assert rows["grpo"]["avg_at_k"][0] == eval_report["avg_at_k"]
    assert rows["grpo"]["mean_reward"][0] == eval_report["mean_reward"]
    table = (out / "results.md").read_text()
    for line in ("| base |", "| grpo |", "| resrl |", "Avg@2", "mean score", "pass@2", "| resrl − grpo |"):
        assert line in table
    for name in ("success.png", "reward.png", "pass_at_k.png", "omega_negative.png", "positive_loglik.png"):
        image = (out / "figures" / name).read_bytes()
        assert image.startswith(PNG) and len(image) > 5_000, name

    # The same seeds elsewhere give the same numbers: a copy without one seed's run and base evaluation
    # redoes them (training, trajectories, evaluation) and reports every figure and interval alike.
    second = tmp_path / "second"
    shutil.copytree(out, second)
    shutil.rmtree(second / "resrl-s4")
    shutil.rmtree(second / "base-s4" / "eval")
    redone = compare("--config", str(config), "--out", str(second))
    assert redone.returncode == 0, redone.stderr
    assert "train resrl-s4" in redone.stdout and "train grpo" not in redone.stdout
    assert figures_of(json.loads((second / "results.json").read_text())) == figures_of(results)

    # Done steps are kept: a rerun trains and evaluates nothing and reports the same. An evaluated run
    # is done without its checkpoints, and then the warm-started model is not needed either.
    checkpoint = out / "grpo-s3" / "checkpoints" / "iter-000002" / "state.json"
    stamp = checkpoint.stat().st_mtime_ns
    shutil.rmtree(out / "resrl-s4" / "checkpoints")
    shutil.rmtree(out / "warm-start" / "model")
    again = compare("--config", str(config), "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert not any(step in again.stdout for step in ("warm start", "train ", "evaluate "))
    assert checkpoint.stat().st_mtime_ns == stamp
    assert figures_of(json.loads((out / "results.json").read_text())) == figures_of(results)

    # Other settings never mix with these runs.
    changed = experiment(tiny_model_dir)
    changed["train"]["learning_rate"] = 1e-2
    config.write_text(yaml.safe_dump(changed))
    refused = compare("--config", str(config), "--out", str(out))
    assert refused.returncode == 2 and "holds a comparison with other settings" in refused.stdout


def _interruptible() -> None:
    """Ctrl-C's default in the child, as in a terminal: a shell without job control starts background
    commands (``cmd &``) with SIGINT ignored, and Python then installs no KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
def test_ctrl_c_stops_with_a_message_and_the_command_resumes(tiny_model_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(experiment(tiny_model_dir, seeds=(3,))))
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "agents.compare", "--config", str(config), "--out", str(out)],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ,
                               start_new_session=True, preexec_fn=_interruptible)
    deadline = time.monotonic() + 300
    while not (out / "warm-start" / "wall_s").is_file() and time.monotonic() < deadline:  # warm start done
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    stdout, _ = process.communicate(timeout=300)
    assert process.returncode == 130 and "run the same command again to resume" in stdout

    resumed = compare("--config", str(config), "--out", str(out))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "warm start" not in resumed.stdout  # kept from before the interruption
    assert json.loads((out / "results.json").read_text())["missing"] == []


def test_a_bad_experiment_is_one_clear_message(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump({"env": GENERATED_ALFWORLD, "compare": {"algorithms": ["ppo"]}}))
    result = compare("--config", str(config), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "compare.algorithms.0" in result.stdout and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("path", sorted((REPO / "configs" / "experiments").glob("*.yaml")), ids=lambda p: p.stem)
def test_published_experiments_are_valid_comparisons(path: Path) -> None:
    config = load_experiment(path)
    assert set(config.compare.algorithms) == {"grpo", "nsr", "resrl"}  # docs/results.md compares all three
    assert config.compare.warm_start is not None  # the default model starts at 0 on every env
    assert config.compare.eval.split not in (None, config.env.kwargs.get("split"))  # held out
