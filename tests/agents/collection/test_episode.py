"""The token sequence of one episode, driven turn by turn with given replies and env results."""

from __future__ import annotations

from typing import Any

import pytest

from agents.collection.episode import Episode, EpisodeRequest
from agents.config import RolloutConfig
from agents.generation.backends import Generation
from agents.generation.chat import ChatFormat

ACTIONS = ["go to desk 1", "look"]


def reply(tokenizer: Any, chat: ChatFormat, text: str, *, stop: bool = True) -> Generation:
    ids = tokenizer(text, add_special_tokens=False).input_ids + ([chat.stop_token_ids[0]] if stop else [])
    return Generation(ids, [-0.5] * len(ids), "stop" if stop else "length")


def episode(tokenizer: Any, **config: Any) -> tuple[Episode, ChatFormat]:
    chat = ChatFormat.from_tokenizer(tokenizer, "You are a test agent.")
    request = EpisodeRequest(group_id="g0", sample_index=0, seed=3)
    return Episode(request, "resrl/ALFWorld-v0", chat, RolloutConfig(**config)), chat


def test_agent_tokens_are_exactly_the_replies_and_observations_are_masked(tokenizer: Any) -> None:
    ep, chat = episode(tokenizer)
    ep.start("You are in a room. Your task is to: look.", {"task_id": "t1", "available_actions": ACTIONS})
    replies = ["Action: go to desk 1", "I think\nAction: look"]
    observations = ["You arrive at desk 1.", "Nothing happens."]
    for text, observation in zip(replies, observations, strict=True):
        assert ep.prompt() is not None
        ep.add_reply(reply(tokenizer, chat, text, stop=text != replies[-1]))
        ep.add_step(observation, 0.0, False, False, {"available_actions": ACTIONS, "invalid_action": False})
    ep.prompt()
    ep.add_reply(reply(tokenizer, chat, "Action: look"))
    ep.add_step("You won.", 1.0, True, False, {"success": True})
    record = ep.record()
    agent = [t for t, m in zip(record.token_ids, record.agent_mask, strict=True) if m]
    env_text = tokenizer.decode([t for t, m in zip(record.token_ids, record.agent_mask, strict=True) if not m])
    assert chat.decode(agent) == "".join(t.reply for t in record.turns)
    assert [t.reply for t in record.turns] == [*replies, "Action: look"]
    for observation in ["You are in a room. Your task is to: look.", *observations]:
        assert observation in env_text
    assert all(lp == -0.5 for lp, m in zip(record.logprobs, record.agent_mask, strict=True) if m)
    assert all(lp == 0.0 for lp, m in zip(record.logprobs, record.agent_mask, strict=True) if not m)
    assert record.success and record.reward == 1.0 and record.end_reason == "terminated"
    assert record.task_id == "t1" and record.final_observation == "You won."


def test_each_prompt_extends_the_previous_one(tokenizer: Any) -> None:
    ep, chat = episode(tokenizer)
    ep.start("start", {"available_actions": ACTIONS})
    previous: list[int] = []
    for turn in range(4):
        prompt = ep.prompt()
        assert prompt is not None and prompt[: len(previous)] == previous and len(prompt) > len(previous)
        generation = reply(tokenizer, chat, "Action: look", stop=turn % 2 == 0)
        ep.add_reply(generation)
        ep.add_step(f"observation {turn}", 0.0, False, False, {"available_actions": ACTIONS})
        previous = prompt + generation.token_ids
    ep.finish("max_turns")
    assert ep.record().token_ids[: len(previous)] == previous


def test_invalid_replies_are_flagged_penalised_and_explained(tokenizer: Any) -> None:
    ep, chat = episode(tokenizer, invalid_action_penalty=0.1, max_turns=2)
    ep.start("start", {"available_actions": ACTIONS})
    ep.prompt()
    assert ep.add_reply(reply(tokenizer, chat, "hmm\nwhat now")) == ""
    ep.add_step("Nothing happens.", 0.0, False, False, {"invalid_action": True, "available_actions": ACTIONS})
    prompt = ep.prompt()
    assert prompt is not None and "held no action" in tokenizer.decode(prompt)
    assert ep.add_reply(reply(tokenizer, chat, "Action: dance")) == "dance"
    ep.add_step("Nothing happens.", 0.0, False, False, {"invalid_action": True})
    record = ep.record()
    assert [t.parse_ok for t in record.turns] == [False, True]
    assert record.invalid_turns == 2 and record.reward == pytest.approx(-0.2) and record.env_return == 0.0
    assert record.end_reason == "max_turns"


def test_context_budget_shortens_older_observations_then_ends(tokenizer: Any) -> None:
    ep, chat = episode(tokenizer, context_tokens=400, max_new_tokens=16, shortened_observation_chars=10, max_turns=50)
    long = "word " * 60
    ep.start("Your task is to: look.", {})
    for turn in range(40):
        prompt = ep.prompt()
        if prompt is None:
            break
        assert len(prompt) <= 400 - 16
        ep.add_reply(reply(tokenizer, chat, "Action: look"))
        ep.add_step(f"{turn}: {long}", 0.0, False, False, {})
    record = ep.record() if ep.done else None
    assert record is not None and record.end_reason == "context"
    assert record.compactions and record.compactions[0].tokens_after < record.compactions[0].tokens_before
    text = tokenizer.decode(record.token_ids)
    assert "Your task is to: look." in text and "…[shortened]" in text
    agent = [t for t, m in zip(record.token_ids, record.agent_mask, strict=True) if m]
    assert chat.decode(agent) == "".join(t.reply for t in record.turns)  # replies survive compaction


def test_recording_an_unfinished_episode_is_an_error(tokenizer: Any) -> None:
    ep, _ = episode(tokenizer)
    ep.start("start", {})
    with pytest.raises(RuntimeError, match="not ended"):
        ep.record()
