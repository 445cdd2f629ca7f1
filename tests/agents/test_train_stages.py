"""What makes the main job learn: dynamic sampling, the curriculum, the warm start stage, held-out
scores, and a run whose every group ties saying so."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from agents.collection.trajectory import Trajectory, read_trajectories
from agents.collection.workers import WorkerPool
from agents.config import CurriculumConfig, RolloutConfig, RunConfig, TaskFilterConfig, load_config
from agents.generation.backends.base import Generation, SamplingParams
from agents.generation.chat import ChatFormat
from agents.generation.policy import Policy
from agents.generation.prompts import system_prompt
from agents.train import build_parser, measured_tasks, resolve, tie_advice
from agents.training.checkpoint import checkpoint_extra, latest_checkpoint
from agents.training.curriculum import Curriculum
from agents.training.heldout import read_scores
from agents.training.sampling import groups, sample_iteration
from agents.training.task_filter import TaskFilter
from envs.spec import EnvSpec, config_path
from tests.agents.conftest import ENV_ID, GENERATED_ALFWORLD

REPO = Path(__file__).resolve().parents[2]


def test_the_curriculum_follows_a_scripted_success_rate_within_bounds() -> None:
    """Success that falls with difficulty: the level settles where success lies in the band, from
    either end; never below 0 or above the last level."""
    success_at = [0.95, 0.8, 0.5, 0.2, 0.05]
    levels = [{"max_steps": 4 + level} for level in range(len(success_at))]
    for start, settled in ((0, 2), (4, 2)):
        curriculum = Curriculum(CurriculumConfig(levels=levels, start_level=start, window=2))
        visited = [curriculum.level]
        for _ in range(20):
            curriculum.update(success_at[curriculum.level])
            visited.append(curriculum.level)
        assert visited[-1] == settled and visited[-6:] == [settled] * 6
        steps = [b - a for a, b in itertools.pairwise(visited)]
        assert all(step == (1 if start == 0 else -1) for step in steps if step)  # one direction, one level at a time
    for rate, edge in ((1.0, 4), (0.0, 0)):  # always solved / never solved: stops at the ends
        curriculum = Curriculum(CurriculumConfig(levels=levels, start_level=2, window=1))
        for _ in range(10):
            curriculum.update(rate)
        assert curriculum.level == edge


def test_the_curriculum_state_restores_exactly() -> None:
    config = CurriculumConfig(levels=[{}, {}, {}], window=3)
    rng = random.Random(0)
    rates = [rng.random() for _ in range(30)]
    straight = Curriculum(config)
    moves = [straight.update(rate) for rate in rates]
    first = Curriculum(config)
    resumed_moves = [first.update(rate) for rate in rates[:13]]
    second = Curriculum(config)
    second.load_state_dict(json.loads(json.dumps(first.state_dict())))  # as a checkpoint stores it
    resumed_moves += [second.update(rate) for rate in rates[13:]]
    assert resumed_moves == moves and second.state_dict() == straight.state_dict()
    assert any(moves)
    base = EnvSpec(id=ENV_ID, kwargs={"split": "train", "max_steps": 9})
    assert Curriculum(CurriculumConfig(levels=[{"max_steps": 3}])).env_spec(base).kwargs == {"split": "train",
                                                                                          "max_steps": 3}
    assert Curriculum(CurriculumConfig()).env_spec(base) is base
    with pytest.raises(ValueError, match="start_level"):
        Curriculum(CurriculumConfig(levels=[{}], start_level=1))


class ScriptedBackend:
    """A scripted policy: each reply is a valid ALFWorld action ("look") with probability
    ``valid_share``, else an invalid one, drawn per row from the batch's seed."""

    def __init__(self, tokenizer: Any, stop_id: int, valid_share: float) -> None:
        self.replies = {valid: [*tokenizer(f"Action: {'look' if valid else 'dance'}",
                                           add_special_tokens=False).input_ids, stop_id] for valid in (True, False)}
        self.valid_share = valid_share

    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[Generation]:
        rng = random.Random(params.seed)
        replies = [self.replies[rng.random() < self.valid_share] for _ in prompts]
        return [Generation(ids, [-1.0] * len(ids), "stop") for ids in replies]

    def load_weights(self, model: torch.nn.Module) -> None:
        """A script has no weights."""

    def prefix_cache(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


@pytest.fixture(scope="module")
def pool(ray_local: None) -> Iterator[WorkerPool]:
    pool = WorkerPool(GENERATED_ALFWORLD, num_workers=1, slots_per_worker=8, worker_cpus=0)
    yield pool
    pool.close()


def _sampling_config(enabled: bool, max_extra_groups: int) -> RunConfig:
    # rewards differ by the number of invalid replies: -0.5 each
    return RunConfig(env=EnvSpec(**GENERATED_ALFWORLD),
                     rollout=RolloutConfig(max_turns=3, invalid_action_penalty=0.5),
                     train={"tasks_per_iter": 3, "group_size": 2,
                            "dynamic_sampling": {"enabled": enabled, "max_extra_groups": max_extra_groups}})


def _policy(tokenizer: Any, valid_share: float) -> Policy:
    chat = ChatFormat.from_tokenizer(tokenizer, system_prompt(ENV_ID))
    return Policy(tokenizer, chat, ScriptedBackend(tokenizer, chat.stop_token_ids[0], valid_share), None)


def test_dynamic_sampling_keeps_only_groups_with_mixed_rewards(tokenizer: Any, pool: WorkerPool) -> None:
    config = _sampling_config(True, max_extra_groups=6)
    batch = sample_iteration(1, config, _policy(tokenizer, 0.5), pool, seed=0)
    counts = batch.counts
    kept = groups(batch.kept)
    assert kept and all(len({t.reward for t in group}) > 1 for group in kept.values())
    assert counts.kept == len(kept) <= config.train.tasks_per_iter
    collected = groups(batch.trajectories)
    assert counts.collected == len(collected) <= config.train.tasks_per_iter + 6
    assert counts.collected == (counts.kept + counts.all_success + counts.all_failure + counts.tied_other
                                + counts.incomplete + counts.surplus)
    dropped = [g for g in collected.values() if len({t.reward for t in g}) == 1]
    assert counts.all_failure + counts.tied_other == len(dropped) > 0  # this seed ties some groups
    assert counts.extra_rounds >= 1 and len(batch.trajectories) == 2 * counts.collected
    assert batch.stats.generated_tokens == sum(sum(t.agent_mask) for t in batch.trajectories)

    # the same draw without dynamic sampling keeps the first round's groups, ties included
    plain = sample_iteration(1, _sampling_config(False, 6), _policy(tokenizer, 0.5), pool, seed=0)
    assert plain.counts.collected == plain.counts.kept == 3 and plain.counts.extra_rounds == 0
    assert [t.token_ids for t in plain.trajectories] == [t.token_ids for t in batch.trajectories[:6]]


def test_dynamic_sampling_stops_at_its_cap_when_every_group_ties(tokenizer: Any, pool: WorkerPool) -> None:
    batch = sample_iteration(2, _sampling_config(True, max_extra_groups=4), _policy(tokenizer, 1.0), pool, seed=0)
    assert batch.kept == [] and batch.counts.collected == 3 + 4 and batch.counts.all_failure == 7


# -- the main job end to end: probe -> warm start -> held-out -> curriculum -> summary, and a resume --

STAGES_CONFIG = {
    "env": {"id": ENV_ID, "kwargs": {"source": "generated", "split": "train", "num_generated": 24,
                                      "task_types": ["pick_and_place_simple"], "max_steps": 6,
                                      "difficulty": {"max_receptacles": 2, "num_distractors": 0}}},
    # turns and replies long enough for the expert to win: "Action: go to countertop 1", ...,
    "rollout": {"max_new_tokens": 16, "max_turns": 5, "workers": 1, "envs_per_worker": 4, "worker_cpus": 0},
    "train": {"tasks_per_iter": 2, "group_size": 2, "mini_batch_size": 4, "micro_batch_size": 2, "rank": 4,
              "dynamic_sampling": {"max_extra_groups": 2},
              "warmstart": {"probe_tasks": 2, "demonstrations": 2, "batch_size": 2},
              "curriculum": {"levels": [{"max_steps": 4}, {"max_steps": 5}, {}], "start_level": 2, "window": 1},
              "heldout": {"tasks": 2, "samples": 1}},
}


def _train(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agents.train", "--backend", "hf", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=900, env=os.environ | {"COLUMNS": "200"})


def _rows(run: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_the_main_job_stages_and_a_run_that_cannot_learn(tiny_model_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "stages.yaml"
    config.write_text(yaml.safe_dump(STAGES_CONFIG))
    common = ["--config", str(config), "--model", str(tiny_model_dir), "--seed", "2"]
    straight, split = tmp_path / "straight", tmp_path / "split"
    done = _train(*common, "--iterations", "4", "--out", str(straight))
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout

    # a random tiny model cannot act: the probe says so and the warm start runs first, as iteration 0
    assert "probe: 0/2 successes" in out and "warm start on expert demonstrations first" in out
    warm = json.loads((straight / "warmstart.json").read_text())
    assert f"warm start: {warm['demonstrations']} of " in out and "demonstrations kept" in out
    assert f"warm start step {len(warm['losses'])}/{len(warm['losses'])}: loss" in out  # progress, even in a log
    assert [s.stage for s in read_scores(straight)] == ["start", "warm start", "end"]
    assert "held-out success" in out and "(+/- " in out

    # every group ties: each row says so, the summary says what to do, no NaN on the screen
    rows = _rows(straight)
    assert all(row["signal_groups"] == 0 and row["groups_collected"] == 4 for row in rows)  # 2 + 2 extra
    assert out.count("no learning signal: every one of 4 groups tied (4 all failed)") == 4
    assert "updates with a learning signal: 0 of 4 iterations" in out
    assert "the model rarely succeeds: more demonstrations or epochs (train.warmstart)" in out  # it warm-started
    assert "n/a" in out and "nan" not in out.lower().replace("nano", "")
    records = list(read_trajectories(straight / "trajectories" / "iter-000001.jsonl.gz"))
    assert len(records) == 8 and all(r.weights is None for r in records)  # all shown, none learnt from

    # failing at the top level walks the curriculum down to the easiest and keeps it there
    assert [row["curriculum_level"] for row in rows] == [2, 1, 0, 0]
    assert [row["curriculum_move"] for row in rows] == [-1, -1, 0, 0]

    # a resume after iteration 2 continues exactly: same levels, same figures, the warm start not redone
    first = _train(*common, "--iterations", "2", "--out", str(split))
    assert first.returncode == 0, first.stderr[-3000:]
    checkpoint = latest_checkpoint(split)
    assert checkpoint is not None and checkpoint_extra(checkpoint)["curriculum"] == {"level": 0, "recent": []}
    again = _train("--resume", str(split), "--iterations", "4")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "probe:" not in again.stdout and "demonstrations, loss" not in again.stdout
    for a, b in zip(_rows(split), rows, strict=True):
        for key in ("curriculum_level", "success_rate", "groups_collected", "invalid_rate", "mean_turns"):
            assert a[key] == b[key], key
    assert [s.stage for s in read_scores(split)] == ["start", "warm start", "end", "end"]


# -- tasks by measured difficulty, where there is no curriculum --

def _tied(task: int, rewards: Sequence[float]) -> list[Trajectory]:
    return [Trajectory(env_id=ENV_ID, task_id=f"t{task}", task_info={"task_index": task}, group_id=f"g{task}",
                       sample_index=i, seed=0, turns=[], final_observation="", token_ids=[1], agent_mask=[0],
                       logprobs=[0.0], reward=r, env_return=r, success=r > 0, invalid_turns=0, end_reason="terminated")
            for i, r in enumerate(rewards)]


def test_a_task_whose_group_tied_rests_then_returns() -> None:
    tasks = TaskFilter(TaskFilterConfig(cooldown=2), num_tasks=6)
    tasks.record(1, _tied(0, [1.0, 1.0]))  # solved by every sample: too easy for now
    tasks.record(1, _tied(1, [0.0, 0.0]))  # by none: too hard for now
    tasks.record(1, _tied(2, [0.0, 1.0]))  # mixed: what the update learns from
    assert tasks.resting(2) == tasks.resting(3) == {0, 1} and tasks.resting(4) == set()
    for seed in range(20):
        drawn = tasks.draw(4, 2, random.Random(seed))
        assert sorted(drawn) == [2, 3, 4, 5]
    assert sorted(tasks.draw(5, 2, random.Random(0))) == [0, 2, 3, 4, 5]  # too few free: a resting one fills up
    assert tasks.draw(2, 2, random.Random(0), exclude={2, 3, 4}) == [5, 0]  # the free one, then the first to wake
    assert tasks.records[2].samples == 2 and tasks.records[2].successes == 1
    again = TaskFilter(TaskFilterConfig(cooldown=2), num_tasks=6)
    again.load_state_dict(json.loads(json.dumps(tasks.state_dict())))  # as a checkpoint stores it
    assert again.records == tasks.records
    assert [again.draw(3, 2, random.Random(7)) for _ in range(3)] == [tasks.draw(3, 2, random.Random(7))
                                                                     for _ in range(3)]


def test_sampling_draws_tasks_by_measured_difficulty(tokenizer: Any, pool: WorkerPool) -> None:
    config = _sampling_config(False, 0)
    tasks = TaskFilter(TaskFilterConfig(cooldown=1), num_tasks=24)
    first = sample_iteration(1, config, _policy(tokenizer, 1.0), pool, seed=0, tasks=tasks)  # "look": every group fails
    drawn = {t.task_info["task_index"] for t in first.trajectories}
    assert len(drawn) == 3 and all(len(g) == 2 for g in groups(first.trajectories).values())
    assert tasks.resting(2) == drawn
    second = sample_iteration(2, config, _policy(tokenizer, 1.0), pool, seed=0, tasks=tasks)
    assert not drawn & {t.task_info["task_index"] for t in second.trajectories}


def test_real_game_files_play_without_the_curriculum_unless_asked(alfworld_archive: Path, tmp_path: Path) -> None:
    # The main job's config on the real games (as on a GPU with --model): difficulty knobs shape
    # generated games only, so the levels are dropped and tasks are chosen by measured difficulty.
    config = load_config(config_path("alfworld"))
    config.env.kwargs |= {"source": "files", "data_path": str(alfworld_archive)}
    path = tmp_path / "real.yaml"
    path.write_text(yaml.safe_dump(config.model_dump()))
    resolved, _ = resolve(build_parser().parse_args(["--config", str(path)]))
    assert resolved.train.curriculum.levels == [] and measured_tasks(resolved) is not None
    forced, _ = resolve(build_parser().parse_args(["--config", str(path), "--curriculum"]))
    assert forced.train.curriculum.levels == config.train.curriculum.levels and measured_tasks(forced) is None


def test_the_advice_for_tied_iterations_follows_how_the_groups_tied() -> None:
    def tied(solved: int, failed: int) -> dict[str, float]:
        return {"signal_groups": 0, "groups_all_success": solved, "groups_all_failure": failed}

    assert "warm-start it" in tie_advice([tied(0, 8)], warm_started=False, dynamic_sampling=True)
    after_warm_start = tie_advice([tied(1, 7)], warm_started=True, dynamic_sampling=True)
    assert "rarely succeeds: more demonstrations" in after_warm_start and "warm-start it" not in after_warm_start
    assert "nearly always succeeds" in tie_advice([tied(8, 0)], warm_started=True, dynamic_sampling=True)
    # the main job's last iteration at 0.38 training success: neither "rarely" nor "nearly always"
    both = tie_advice([tied(3, 5)], warm_started=True, dynamic_sampling=True)
    assert "groups tied both ways (3 all succeeded, 5 all failed)" in both and "train.group_size" in both
    assert "rarely" not in both and "nearly always" not in both
    partial = tie_advice([{"signal_groups": 0, "groups_tied_other": 4}], warm_started=True, dynamic_sampling=True)
    assert "tied on a partial reward" in partial and "both ways" not in partial
    assert "turn on train.dynamic_sampling" in tie_advice([tied(3, 5)], warm_started=True, dynamic_sampling=False)
