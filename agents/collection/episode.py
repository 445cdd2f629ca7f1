"""One episode being collected: its token sequence, built by appending only, and its turn records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents.collection.trajectory import Compaction, EndReason, Trajectory, TurnRecord
from agents.config import RolloutConfig
from agents.generation.backends.base import Generation
from agents.generation.chat import ChatFormat
from agents.generation.prompts import format_observation, read_action

_SHORTENED = " …[shortened]"


@dataclass(frozen=True)
class EpisodeRequest:
    """One sample to collect: envs reset with the same ``seed`` and ``options`` start from the same
    state, so a group is G requests that share them."""

    group_id: str
    sample_index: int
    seed: int
    options: dict[str, Any] | None = None
    max_turns: int | None = None  # overrides the rollout's max_turns for this episode


@dataclass
class _EnvSegment:
    """Template and environment tokens of one turn (mask 0), rebuilt when its observation is shortened."""

    observation: str
    first: bool
    after_stop: bool
    ids: list[int]
    shortened: bool = False


@dataclass
class _AgentSegment:
    """Exactly the ids the backend generated (mask 1) and their log-probs."""

    ids: list[int]
    logprobs: list[float]


class Episode:
    """Collects one trajectory: reset result → (prompt → reply → step result)* → record."""

    def __init__(self, request: EpisodeRequest, env_id: str, chat: ChatFormat, config: RolloutConfig) -> None:
        self.request = request
        self.env_id = env_id
        self.chat = chat
        self.config = config
        self.max_turns = request.max_turns or config.max_turns
        self.end_reason: EndReason | None = None
        self.error: str | None = None
        self._segments: list[_EnvSegment | _AgentSegment] = []
        self._turns: list[dict[str, Any]] = []
        self._compactions: list[Compaction] = []
        self._task_info: dict[str, Any] = {}
        self._last_prompt: list[int] = []
        self._available: list[str] | None = None
        self._observation = ""
        self._parse_problem: str | None = None

    @property
    def done(self) -> bool:
        return self.end_reason is not None

    @property
    def started(self) -> bool:
        """Whether the env's reset result has arrived."""
        return bool(self._segments)

    def start(self, observation: str, info: dict[str, Any]) -> None:
        self._task_info = {key: value for key, value in info.items() if key not in _STEP_KEYS}
        self._append_env(observation, info)

    def prompt(self) -> list[int] | None:
        """The ids to generate from, or None when the episode ended because nothing fits the budget."""
        ids = self._sequence()
        budget = self.config.context_tokens - self.config.max_new_tokens
        if len(ids) > budget:
            compacted = self._compact(budget, len(ids))
            if compacted is None:
                self.finish("context")
                return None
            ids = compacted
        elif ids[: len(self._last_prompt)] != self._last_prompt:
            raise RuntimeError("the token prefix changed between turns; trajectories would be corrupt")
        self._last_prompt = ids
        return ids

    def add_reply(self, generation: Generation) -> str:
        """Record the backend's reply and return the action to send to the env."""
        self._segments.append(_AgentSegment(list(generation.token_ids), list(generation.logprobs)))
        reply = self.chat.decode(generation.token_ids)
        parsed = read_action(self.env_id, reply, self._available)
        self._parse_problem = parsed.reason
        self._turns.append(
            {
                "observation": self._observation,
                "reply": reply,
                "action": parsed.action,
                "parse_ok": parsed.ok,
                "valid": parsed.ok,
                "reward": 0.0,
                "finish_reason": generation.finish_reason,
            }
        )
        return parsed.action

    def add_step(
        self, observation: str, reward: float, terminated: bool, truncated: bool, info: dict[str, Any]
    ) -> None:
        turn = self._turns[-1]
        turn["reward"] = float(reward)
        turn["valid"] = turn["parse_ok"] and not info.get("invalid_action", False)
        self._task_info["success"] = bool(info.get("success", False))
        if terminated:
            self.finish("terminated", final_observation=observation)
        elif truncated:
            self.finish("truncated", final_observation=observation)
        elif len(self._turns) >= self.max_turns:
            self.finish("max_turns", final_observation=observation)
        else:
            self._append_env(observation, info)

    def finish(self, reason: EndReason, *, final_observation: str | None = None, error: str | None = None) -> None:
        self.end_reason = reason
        self.error = error
        if final_observation is not None:
            self._observation = final_observation

    def record(self, iteration: int = 0) -> Trajectory:
        if self.end_reason is None:
            raise RuntimeError("the episode has not ended")
        ids: list[int] = []
        mask: list[int] = []
        logprobs: list[float] = []
        for segment in self._segments:
            ids += segment.ids
            if isinstance(segment, _AgentSegment):
                mask += [1] * len(segment.ids)
                logprobs += segment.logprobs
            else:
                mask += [0] * len(segment.ids)
                logprobs += [0.0] * len(segment.ids)
        turns = [TurnRecord(**turn) for turn in self._turns]
        invalid = sum(not turn.valid for turn in turns)
        env_return = sum(turn.reward for turn in turns)
        info = {key: value for key, value in self._task_info.items() if key != "success"}
        return Trajectory(
            env_id=self.env_id,
            task_id=str(info.get("task_id", "")),
            task_info=info,
            group_id=self.request.group_id,
            sample_index=self.request.sample_index,
            seed=self.request.seed,
            iteration=iteration,
            turns=turns,
            final_observation=self._observation,
            token_ids=ids,
            agent_mask=mask,
            logprobs=logprobs,
            reward=env_return - self.config.invalid_action_penalty * invalid,
            env_return=env_return,
            success=bool(self._task_info.get("success", False)),
            invalid_turns=invalid,
            end_reason=self.end_reason,
            error=self.error,
            compactions=self._compactions,
        )

    def _append_env(self, observation: str, info: dict[str, Any]) -> None:
        self._available = info.get("available_actions")
        shown = format_observation(observation, self._available, show_actions=self.config.show_available_actions)
        if self._parse_problem is not None:
            shown = f"Your last reply held no action ({self._parse_problem}).\n{shown}"
        self._observation = shown
        first = not self._segments
        after_stop = not first and self._last_reply_stopped()
        self._segments.append(_EnvSegment(shown, first, after_stop, self._encode(shown, first, after_stop)))

    def _encode(self, observation: str, first: bool, after_stop: bool) -> list[int]:
        if first:
            return self.chat.first_turn(observation)
        return self.chat.next_turn(observation, reply_stopped=after_stop)

    def _last_reply_stopped(self) -> bool:
        return bool(self._turns) and self._turns[-1]["finish_reason"] == "stop"

    def _sequence(self) -> list[int]:
        return [token for segment in self._segments for token in segment.ids]

    def _compact(self, budget: int, before: int) -> list[int] | None:
        """Shorten older observations (never the first, which states the task, nor the latest),
        oldest first, until the sequence fits; None if it cannot."""
        env = [s for s in self._segments if isinstance(s, _EnvSegment)]
        shortened: list[int] = []
        keep = self.config.shortened_observation_chars
        for index, segment in enumerate(env[1:-1], start=1):
            if segment.shortened or len(segment.observation) <= keep:
                continue
            segment.observation = segment.observation[:keep] + _SHORTENED
            segment.ids = self._encode(segment.observation, segment.first, segment.after_stop)
            segment.shortened = True
            shortened.append(index)
            if len(self._sequence()) <= budget:
                break
        ids = self._sequence()
        if len(ids) > budget:
            return None
        self._compactions.append(Compaction(turn=len(self._turns), shortened_turns=shortened, tokens_before=before,
                                            tokens_after=len(ids)))
        return ids


_STEP_KEYS = {"success", "invalid_action", "invalid_reason", "available_actions", "steps"}
