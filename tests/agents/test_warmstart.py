"""The supervised warm start: expert demonstrations of every env family laid out as rollouts, a loss
that falls, and the CLI that writes a loadable model."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

import envs
from agents.config import RolloutConfig
from agents.generation.chat import ChatFormat
from agents.generation.models import recompute_activations
from agents.generation.prompts import system_prompt
from agents.warmstart import demonstrations, fine_tune
from envs.bfcl.data import load_entries, split_entries
from envs.bfcl.expert import expert_reply
from envs.code.problems import load_problems, split_problems
from envs.spec import ConfigError, EnvSpec
from envs.webshop.env import WebShopEnv, expert_actions
from tests.agents.conftest import GENERATED_ALFWORLD, tiny_model

REPO = Path(__file__).resolve().parents[2]
BFCL_ID = "resrl/BFCL-v0"
BFCL = {"id": BFCL_ID, "kwargs": {"category": "simple_python", "split": "train"}}
ONE_REPLY = RolloutConfig(max_turns=1, max_new_tokens=64, context_tokens=2048)
SHOP_KWARGS: dict[str, Any] = {"source": "generated", "num_products": 100, "split": "train"}
WEBSHOP = {"id": "resrl/WebShop-v0", "kwargs": SHOP_KWARGS}


def chat_for(tokenizer: Any) -> ChatFormat:
    return ChatFormat.from_tokenizer(tokenizer, system_prompt(BFCL_ID))


def test_every_registered_env_family_has_an_expert() -> None:
    kwargs: dict[str, Any] = {"resrl/ALFWorld-v0": GENERATED_ALFWORLD["kwargs"], BFCL_ID: BFCL["kwargs"],
              "resrl/WebShop-v0": SHOP_KWARGS, "resrl/Code-v0": {"split": "train"}}
    assert set(kwargs) == set(envs.FAMILIES)
    for env_id, family in envs.FAMILIES.items():
        env = envs.make_env({"id": env_id, "kwargs": kwargs[env_id] | dict(family.expert_kwargs)})
        env.reset(seed=0)
        action = env.unwrapped.expert_action()  # type: ignore[attr-defined]
        assert action.strip(), env_id
        reply = family.expert_reply(action)
        assert reply == action if family.whole_reply else reply == f"Action: {action}"
        env.close()


def test_demonstrations_are_the_expert_replies_laid_out_as_rollouts(tokenizer: Any) -> None:
    chat = chat_for(tokenizer)
    demos = demonstrations(EnvSpec.model_validate(BFCL), chat, tokenizer, 5, ONE_REPLY).trajectories
    entries = split_entries(load_entries("simple_python"), "train")
    assert [d.task_id for d in demos] == [e.id for e in entries[:5]]
    for demo, entry in zip(demos, entries, strict=False):
        assert demo.success and demo.reward == 1.0
        agent = [token for token, mask in zip(demo.token_ids, demo.agent_mask, strict=True) if mask]
        assert agent[-1] in chat.stop_token_ids
        assert tokenizer.decode(agent[:-1]) == expert_reply(entry)
        assert demo.token_ids[: len(chat.first_turn(demo.turns[0].observation))] == \
            chat.first_turn(demo.turns[0].observation)  # the prompt a rollout would have generated from


def test_alfworld_demonstrations_follow_the_planner_turn_by_turn(tokenizer: Any) -> None:
    spec = EnvSpec.model_validate(GENERATED_ALFWORLD)
    chat = ChatFormat.from_tokenizer(tokenizer, system_prompt(spec.id))
    demos = demonstrations(spec, chat, tokenizer, 3, RolloutConfig(max_turns=50, context_tokens=8192)).trajectories
    assert len(demos) == 3
    for demo in demos:
        assert demo.success and demo.end_reason == "terminated" and demo.invalid_turns == 0
        assert demo.num_turns >= 2 and all(t.reply == f"Action: {t.action}" for t in demo.turns)
        assert "Available actions:" in demo.turns[-1].observation  # listed, as in rollouts


def test_webshop_demonstrations_search_open_choose_and_buy(tokenizer: Any) -> None:
    spec = EnvSpec.model_validate(WEBSHOP)
    chat = ChatFormat.from_tokenizer(tokenizer, system_prompt(spec.id))
    demos = demonstrations(spec, chat, tokenizer, 3, RolloutConfig(max_turns=8, max_new_tokens=32,
                                                                   context_tokens=2048)).trajectories
    shop = WebShopEnv(**SHOP_KWARGS)
    assert len(demos) == 3
    for index, demo in enumerate(demos):
        assert demo.success and demo.reward == 1.0 and demo.end_reason == "terminated"
        assert [t.reply for t in demo.turns] == [f"Action: {a}" for a in expert_actions(shop, shop.goals[index])]


def test_code_demonstrations_are_canonical_solutions_that_pass_in_the_sandbox(tokenizer: Any) -> None:
    spec = EnvSpec.model_validate({"id": "resrl/Code-v0", "kwargs": {"split": "train"}})
    chat = ChatFormat.from_tokenizer(tokenizer, system_prompt(spec.id))
    demos = demonstrations(spec, chat, tokenizer, 2, RolloutConfig(max_turns=1, max_new_tokens=512,
                                                                   context_tokens=2048)).trajectories
    problems = split_problems(load_problems(), "train")
    assert [d.task_id for d in demos] == [p.task_id for p in problems[:2]]
    for demo, problem in zip(demos, problems, strict=False):
        assert demo.success and demo.num_turns == 1
        assert demo.turns[0].reply == f"```python\n{problem.prompt}{problem.canonical_solution}```"


def test_replies_longer_than_a_rollout_allows_are_not_demonstrated(tokenizer: Any) -> None:
    spec = EnvSpec.model_validate(WEBSHOP)
    chat = ChatFormat.from_tokenizer(tokenizer, system_prompt(spec.id))
    with pytest.raises(ConfigError, match=r"0 of 2 demonstrations kept \(2 with a reply over rollout.max_new_tokens\)"):
        # every expert reply needs more than 4 tokens
        demonstrations(spec, chat, tokenizer, 2, RolloutConfig(max_turns=8, max_new_tokens=4))


def test_some_replies_too_long_are_dropped_and_counted(tokenizer: Any) -> None:
    chat = chat_for(tokenizer)
    entries = split_entries(load_entries("simple_python"), "train")[:8]
    lengths = [len(tokenizer(expert_reply(e), add_special_tokens=False).input_ids) + 1 for e in entries]  # + stop
    limit = sorted(lengths)[3]
    found = demonstrations(EnvSpec.model_validate(BFCL), chat, tokenizer, 8,
                           RolloutConfig(max_turns=1, max_new_tokens=limit, context_tokens=2048))
    fitting = [e.id for e, n in zip(entries, lengths, strict=True) if n <= limit]
    assert [d.task_id for d in found.trajectories] == fitting
    assert (found.failed, found.too_long) == (0, 8 - len(fitting)) and 0 < len(fitting) < 8
    assert found.summary() == (f"{len(fitting)} of 8 demonstrations kept "
                               f"({8 - len(fitting)} with a reply over rollout.max_new_tokens)")


def test_fine_tuning_lowers_the_demonstrations_loss(tokenizer: Any) -> None:
    demos = demonstrations(EnvSpec.model_validate(BFCL), chat_for(tokenizer), tokenizer, 4, ONE_REPLY).trajectories
    steps: list[tuple[int, int, float]] = []
    losses = fine_tune(tiny_model(tokenizer), demos, pad_token_id=tokenizer.pad_token_id, epochs=6, lr=3e-3,
                       batch_size=4, seed=0, on_step=lambda *step: steps.append(step))
    assert len(losses) == 6
    assert steps == [(i + 1, 6, loss) for i, loss in enumerate(losses)]  # every step reported as it ends
    assert losses[-1] < losses[0] * 0.8


def test_bf16_autocast_fine_tunes_close_to_float32(tokenizer: Any) -> None:
    demos = demonstrations(EnvSpec.model_validate(BFCL), chat_for(tokenizer), tokenizer, 4, ONE_REPLY).trajectories
    runs = []
    for autocast in (False, True):
        model = tiny_model(tokenizer)
        before = torch.cat([p.detach().flatten() for p in model.parameters()])
        losses = fine_tune(model, demos, pad_token_id=tokenizer.pad_token_id, epochs=2, lr=1e-3, batch_size=4,
                           seed=0, autocast=autocast)
        assert all(p.dtype == torch.float32 for p in model.parameters())  # the weights stay float32
        runs.append((losses, torch.cat([p.detach().flatten() for p in model.parameters()]) - before))
    (exact, exact_step), (bf16, bf16_step) = runs
    assert bf16 != exact and bf16 == pytest.approx(exact, abs=0.05)  # computed differently, to about 0.05 nats
    assert float(torch.nn.functional.cosine_similarity(exact_step, bf16_step, dim=0)) > 0.9


def warmstart(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agents.warmstart", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=600, env=os.environ)


def test_the_cli_writes_a_model_that_loads_and_refuses_bad_arguments(tiny_model_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / "bfcl.yaml"
    config.write_text(yaml.safe_dump({"env": BFCL}))
    result = warmstart("--config", str(config), "--model", str(tiny_model_dir), "--demonstrations", "3",
                       "--out", str(tmp_path / "warm"))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "warm" / "warmstart.json").read_text())
    assert report["demonstrations"] == 3 and len(report["losses"]) == 1
    assert (report["dropped_failed"], report["dropped_too_long"]) == (0, 0)
    assert "3 of 3 demonstrations kept" in result.stdout and "warm start step 1/1: loss" in result.stdout
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(tmp_path / "warm" / "model").config.num_hidden_layers == 2

    refused = warmstart("--config", str(config), "--model", str(tiny_model_dir), "--micro-batch-size", "0",
                        "--out", str(tmp_path / "refused"))
    assert refused.returncode == 2 and "--micro-batch-size must be at least 1" in refused.stdout
    assert not (tmp_path / "refused").exists()


def test_multi_turn_bfcl_warm_starts_in_micro_batches_with_recomputed_activations(tiny_model_dir: Path,
                                                                                    tmp_path: Path) -> None:
    # Contexts of ~3,700 tokens (every function's documentation): what ran out of 24 GB in one batch.
    config = tmp_path / "bfcl.yaml"
    config.write_text(yaml.safe_dump({"env": {"id": BFCL_ID, "kwargs": {"category": "multi_turn_base"}},
                                      "rollout": {"max_turns": 30, "max_new_tokens": 256, "context_tokens": 4096},
                                      "train": {"gradient_checkpointing": True, "warmstart": {"micro_batch_size": 1}}}))
    result = warmstart("--config", str(config), "--model", str(tiny_model_dir), "--demonstrations", "4",
                       "--batch-size", "2", "--out", str(tmp_path / "warm"))  # the micro-batches from the config
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "warm" / "warmstart.json").read_text())
    assert report["demonstrations"] >= 1 and report["micro_batch_size"] == 1
    assert all(math.isfinite(loss) for loss in report["losses"])


def test_micro_batches_and_recomputed_activations_leave_the_update_as_it_was(tokenizer: Any) -> None:
    demos = demonstrations(EnvSpec.model_validate(BFCL), chat_for(tokenizer), tokenizer, 4, ONE_REPLY).trajectories
    settings: dict[str, Any] = {"pad_token_id": tokenizer.pad_token_id, "epochs": 2, "lr": 1e-3, "batch_size": 4,
                                "seed": 0}
    whole = tiny_model(tokenizer)
    whole_losses = fine_tune(whole, demos, **settings)
    split, recomputed = tiny_model(tokenizer), tiny_model(tokenizer)
    recompute_activations(recomputed)
    assert any(getattr(module, "gradient_checkpointing", False) for module in recomputed.modules())
    for model, micro in ((split, 1), (recomputed, None)):
        losses = fine_tune(model, demos, micro_batch_size=micro, **settings)
        assert losses == pytest.approx(whole_losses, rel=1e-5)
        for mine, theirs in zip(model.parameters(), whole.parameters(), strict=True):
            torch.testing.assert_close(mine, theirs, rtol=1e-3, atol=1e-5)  # Adam scales a step to ~lr (1e-3)
    assert any(not torch.equal(a, b) for a, b in zip(whole.parameters(), tiny_model(tokenizer).parameters(),
                                                       strict=True))  # the update did something
