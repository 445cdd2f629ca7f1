"""resrl/ALFWorld-v0 on the real engine: real game files and generated games."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import gymnasium
import pytest
import yaml

import envs
from envs.alfworld import TASK_TYPES, ALFWorldEnv, DataError, Difficulty, generate_game
from envs.alfworld.generator import game_digest

REPO = Path(__file__).resolve().parents[2]
EASY = {"max_receptacles": 6, "num_distractors": 2}


def play_expert(env: gymnasium.Env[str, str], **reset: Any) -> tuple[float, bool, int]:
    """Follow the planner's solution from the env's own info; return (return, success, steps)."""
    _, info = env.reset(**reset)
    total, done = 0.0, False
    while not done:
        _, reward, terminated, truncated, info = env.step(info["expert_plan"][0])
        total += float(reward)
        done = terminated or truncated
    return total, info["success"], info["steps"]


@pytest.fixture(scope="module")
def real_env(alfworld_archive: Path) -> ALFWorldEnv:
    return ALFWorldEnv(data_path=alfworld_archive, split="eval_out_of_distribution", source="files")


@pytest.mark.slow
def test_expert_wins_20_real_valid_unseen_games(alfworld_archive: Path) -> None:
    env = gymnasium.make(
        "resrl/ALFWorld-v0", data_path=alfworld_archive, split="eval_out_of_distribution", expert_plan=True
    )
    num_tasks = env.get_wrapper_attr("num_tasks")
    assert num_tasks == 134  # valid_unseen as ALFWorld plays it
    picked = range(0, num_tasks, num_tasks // 20)[:20]
    results = [play_expert(env, options={"task_index": i}) for i in picked]
    assert all(ret == 1.0 and won for ret, won, _ in results), results
    env.close()


@pytest.mark.slow
@pytest.mark.parametrize("task_type", TASK_TYPES)
def test_expert_wins_generated_games_of_every_type(task_type: str) -> None:
    env = ALFWorldEnv(source="generated", task_types=[task_type], expert_plan=True, split="train")
    for index in (0, 1):
        ret, won, _ = play_expert(env, options={"task_index": index})
        assert ret == 1.0 and won
    env.close()


def test_observation_states_the_task_and_info_is_complete(real_env: ALFWorldEnv) -> None:
    obs, info = real_env.reset(options={"task_index": 0})
    assert "Your task is to: examine the alarmclock with the desklamp." in obs
    assert info["task_type"] == "look_at_obj_in_light"
    assert info["task_id"].startswith("look_at_obj_in_light-AlarmClock-None-DeskLamp-308/")
    assert Path(info["gamefile"]).is_file() and info["data_source"] == "files"
    assert "go to desk 1" in info["available_actions"] and not info["success"]
    obs, *_ = real_env.step("go to desk 1")
    assert obs.startswith("You arrive at desk 1.")  # the package grammar names the receptacle


def test_archived_game_logic_keeps_the_files_grammar(alfworld_archive: Path) -> None:
    env = ALFWorldEnv(data_path=alfworld_archive, split="eval_out_of_distribution", game_logic="archived")
    env.reset(options={"task_index": 0})
    obs, *_ = env.step("go to desk 1")
    assert obs.startswith("You arrive at loc ")


def test_seeds_pick_tasks_reproducibly(real_env: ALFWorldEnv) -> None:
    first = [real_env.reset(seed=s) for s in (0, 1, 2)]
    assert real_env.reset(seed=0) == first[0]
    assert len({info["task_id"] for _, info in first}) == 3


@pytest.mark.parametrize("action", ["", "x" * 100_000, "prenez la pomme 🍎", "fly to the moon", "go to desk 99"])
def test_bad_actions_change_nothing(real_env: ALFWorldEnv, action: str) -> None:
    _obs0, info0 = real_env.reset(options={"task_index": 0})
    obs, reward, terminated, _truncated, info = real_env.step(action)
    assert obs == "Nothing happens." and info["invalid_action"] and reward == 0.0
    assert not terminated and info["available_actions"] == info0["available_actions"]
    assert real_env.step("look")[4]["invalid_action"] is False


def test_truncation_and_step_penalty(alfworld_archive: Path) -> None:
    env = ALFWorldEnv(data_path=alfworld_archive, split="eval_out_of_distribution", max_steps=3, step_penalty=0.01)
    env.reset(options={"task_index": 0})
    rewards = [env.step("look") for _ in range(3)]
    assert [r[1] for r in rewards] == [-0.01] * 3
    assert rewards[-1][3] is True and rewards[-1][2] is False


def test_task_selection_by_id_and_type(alfworld_archive: Path) -> None:
    env = ALFWorldEnv(data_path=alfworld_archive, split="eval_in_distribution", task_types=["pick_two_obj_and_place"])
    assert 0 < env.num_tasks < 140
    _, info = env.reset(seed=3)
    assert info["task_type"] == "pick_two_obj_and_place"
    assert env.reset(options={"task_id": info["task_id"]})[1]["task_index"] == info["task_index"]
    with pytest.raises(ValueError, match="out of range"):
        env.reset(options={"task_index": env.num_tasks})
    with pytest.raises(ValueError, match="no task"):
        env.reset(options={"task_id": "nope"})
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"taks_index": 1})


def test_split_sizes_match_alfworld(alfworld_archive: Path) -> None:
    sizes = {s: ALFWorldEnv(data_path=alfworld_archive, split=s).num_tasks for s in ("train", "eval_in_distribution")}
    assert sizes == {"train": 3553, "eval_in_distribution": 140}


@pytest.mark.slow
def test_real_env_passes_the_checker(real_env: ALFWorldEnv) -> None:
    envs.check_env(real_env, seeds=(0, 1, 2))


@pytest.mark.slow
def test_generated_env_passes_the_checker() -> None:
    envs.check_env(ALFWorldEnv(source="generated", split="eval_in_distribution", difficulty=EASY), seeds=(0, 1, 2))


def test_generator_is_deterministic_and_varied() -> None:
    a = generate_game("pick_heat_then_place_in_recep", split="train", index=4, difficulty=Difficulty(**EASY))
    b = generate_game("pick_heat_then_place_in_recep", split="train", index=4, difficulty=Difficulty(**EASY))
    c = generate_game("pick_heat_then_place_in_recep", split="train", index=5, difficulty=Difficulty(**EASY))
    assert game_digest(a.game) == game_digest(b.game) != game_digest(c.game)
    assert a.plan and a.traj_data["task_type"] == "pick_heat_then_place_in_recep"


def test_generator_difficulty_and_ood_floor_plans() -> None:
    easy = generate_game(
        "pick_and_place_simple",
        split="eval_out_of_distribution",
        index=0,
        difficulty=Difficulty(max_receptacles=3, num_distractors=0),
    )
    hard = generate_game(
        "pick_and_place_simple",
        split="eval_out_of_distribution",
        index=0,
        difficulty=Difficulty(max_receptacles=0, num_distractors=12),
    )
    assert easy.game["pddl_problem"].count("- receptacle") <= 4  # the budget, plus the target's parent type
    assert hard.game["pddl_problem"].count("- receptacle") > easy.game["pddl_problem"].count("- receptacle")
    assert easy.traj_data["scene"]["floor_plan"] in {"FloorPlan10", "FloorPlan219", "FloorPlan308", "FloorPlan424"}


def test_generated_games_are_cached_in_the_standard_layout() -> None:
    env = ALFWorldEnv(source="generated", split="eval_in_distribution", difficulty=EASY, num_generated=12)
    _, info = env.reset(options={"task_index": 7})
    path = Path(info["gamefile"])
    assert path.name == "game.tw-pddl" and (path.parent / "traj_data.json").is_file()
    assert path.parts[-4] == "valid_seen" and path.parts[-3].startswith(info["task_type"])
    assert (
        env.reset(options={"task_index": 7})[0]
        == ALFWorldEnv(source="generated", split="eval_in_distribution", difficulty=EASY, num_generated=12).reset(
            options={"task_index": 7}
        )[0]
    )


def test_missing_data_path_names_what_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no ALFWorld games at .*nowhere.*alfworld-download"):
        ALFWorldEnv(data_path=tmp_path / "nowhere")


def test_corrupt_archive_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "json_2.1.1.tgz"
    bad.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(DataError, match=r"not a readable \.tgz"):
        ALFWorldEnv(data_path=bad)


def test_archive_without_games_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("hello")
    archive = tmp_path / "json_2.1.1.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "readme.txt", arcname="readme.txt")
    with pytest.raises(DataError, match="holds no"):
        ALFWorldEnv(data_path=archive, source="files")


def test_files_source_without_data_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RESRL_GYM_CACHE", str(tmp_path))
    with pytest.raises(DataError, match="alfworld-download"):
        ALFWorldEnv(source="files")


def test_empty_split_directory_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "json_2.1.1" / "valid_seen").mkdir(parents=True)
    with pytest.raises(DataError, match="0 games in split eval_in_distribution"):
        ALFWorldEnv(data_path=tmp_path, split="eval_in_distribution")


def test_config_file_builds_the_env() -> None:
    config = yaml.safe_load((REPO / "configs" / "alfworld.yaml").read_text())
    config["env"]["kwargs"].update(source="generated", split="eval_in_distribution", num_generated=6)
    env = envs.make_env(config["env"])
    obs, info = env.reset(seed=0)
    assert "Your task is to:" in obs and info["data_source"] == "generated"
    with pytest.raises(ValueError, match="unknown env"):
        envs.make_env({"id": "resrl/Nope-v0"})


WALK = """
import json, random, sys
from envs.alfworld import ALFWorldEnv
env = ALFWorldEnv(data_path=sys.argv[1], split="eval_out_of_distribution")
rng, seen = random.Random(0), []
for task in (0, 50):
    obs, info = env.reset(options={"task_index": task})
    seen.append([obs, info["available_actions"]])
    for _ in range(15):
        obs, _, done, _, info = env.step(rng.choice(info["available_actions"]))
        seen.append([obs, info["available_actions"]])
print(json.dumps(seen))
"""


@pytest.mark.slow
def test_parse_cache_does_not_change_a_single_character(alfworld_archive: Path) -> None:
    def walk(cache: str) -> list[Any]:
        env = {**os.environ, "RESRL_GYM_TEXTWORLD_CACHE": cache}
        done = subprocess.run(
            [sys.executable, "-c", WALK, str(alfworld_archive)],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])

    cached, plain = walk("1"), walk("0")
    assert len(cached) == 32 and cached == plain


def test_an_empty_alfworld_data_means_unset(tmp_path: Path) -> None:
    # What compose passes when no host data is named; alfworld's own import used to die on it.
    play = "from envs.alfworld import ALFWorldEnv; print(ALFWorldEnv(num_generated=2).reset(seed=0)[1]['data_source'])"
    environment = {**os.environ, "ALFWORLD_DATA": "", "RESRL_GYM_CACHE": str(tmp_path), "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", play], env=environment, cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "generated"


def test_falling_back_to_generated_games_is_said_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from envs.alfworld import tasks

    monkeypatch.setenv("RESRL_GYM_CACHE", str(tmp_path))
    tasks._warn_generated_once.cache_clear()
    with caplog.at_level("WARNING", logger="envs.alfworld.tasks"):
        first = ALFWorldEnv(split="eval_in_distribution", num_generated=3)
        ALFWorldEnv(split="eval_in_distribution", num_generated=3)
    assert first.tasks.source == "generated"
    messages = [r.getMessage() for r in caplog.records if "generated" in r.getMessage()]
    assert len(messages) == 1 and "alfworld-download" in messages[0]


def test_game_file_without_a_task_sentence_is_a_clear_error(tmp_path: Path) -> None:
    trial = tmp_path / "json_2.1.1" / "valid_seen" / "pick_and_place_simple-Mug-None-Desk-1" / "trial_0"
    trial.mkdir(parents=True)
    (trial / "game.tw-pddl").write_text(json.dumps({"pddl_domain": "", "grammar": "{}", "pddl_problem": ""}))
    env = ALFWorldEnv(data_path=tmp_path, split="eval_in_distribution")
    with pytest.raises(DataError, match=r"game\.tw-pddl: .*task"):
        env.reset(seed=0)
    (trial / "game.tw-pddl").write_text("{not json")
    with pytest.raises(DataError, match="cannot read"):
        env.reset(seed=0)
