"""The model's chat template, cut into the pieces that go around each turn.

A multi-turn trajectory is built by appending tokens, never by re-rendering the conversation:
re-rendering and re-tokenising would change token boundaries of earlier turns and break the
agent tokens. The template is rendered once with sentinels to learn what comes before the first
observation, between a reply and the next observation, and before the next reply. Observations
are tokenised on their own with special tokens split, so text in an observation can never forge a
template token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_REPLY = "\x00REPLY\x00"
_OBSERVATION = "\x00OBSERVATION\x00"


@dataclass(frozen=True)
class ChatFormat:
    """Token ids of the template pieces for one tokenizer and system prompt."""

    tokenizer: Any
    system_prompt: str
    first_before: str  # template text before the first observation (system turn included)
    turn_before: str  # after a reply (its end-of-turn marker included) and before the next observation
    after: str  # after an observation, up to where the model starts its reply
    stop_token_ids: tuple[int, ...]

    @classmethod
    def from_tokenizer(cls, tokenizer: Any, system_prompt: str) -> ChatFormat:
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError("the tokenizer has no chat template; pass an instruct/chat model")
        first = _render(tokenizer, system_prompt, [_OBSERVATION])
        first_before, after = first.split(_OBSERVATION)
        later = _render(tokenizer, system_prompt, ["U", _REPLY, _OBSERVATION])
        turn_before, later_after = later.split(_REPLY)[1].split(_OBSERVATION)
        if later_after != after:
            raise ValueError("the chat template renders turns differently by position; it is not supported")
        return cls(tokenizer, system_prompt, first_before, turn_before, after, tuple(_stop_ids(tokenizer)))

    def first_turn(self, observation: str) -> list[int]:
        """Tokens of the conversation up to the model's first reply."""
        return self._encode(self.first_before) + self.encode_observation(observation) + self._encode(self.after)

    def next_turn(self, observation: str, *, reply_stopped: bool) -> list[int]:
        """Tokens that follow a reply: the rest of its end-of-turn marker, the observation, and the
        opening of the next reply. When the reply ended on a stop token, that token already holds
        the start of the marker."""
        before = self.turn_before
        if reply_stopped:
            for token in self.stop_token_ids:
                text = self.tokenizer.decode([token])
                if text and before.startswith(text):
                    before = before[len(text) :]
                    break
        return self._encode(before) + self.encode_observation(observation) + self._encode(self.after)

    def encode_observation(self, observation: str) -> list[int]:
        ids: list[int] = self.tokenizer(observation, add_special_tokens=False, split_special_tokens=True).input_ids
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        """Text of a reply, special tokens dropped."""
        text: str = self.tokenizer.decode(list(ids), skip_special_tokens=True)
        return text

    def _encode(self, text: str) -> list[int]:
        ids: list[int] = self.tokenizer(text, add_special_tokens=False).input_ids
        return ids


def _render(tokenizer: Any, system_prompt: str, turns: list[str]) -> str:
    messages = [{"role": "system", "content": system_prompt}]
    messages += [{"role": "user" if i % 2 == 0 else "assistant", "content": text} for i, text in enumerate(turns)]
    text: str = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return text


def _stop_ids(tokenizer: Any) -> list[int]:
    """The end-of-turn id: chat tokenizers set EOS to it (``<|im_end|>`` for SmolLM2 and Qwen)."""
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has no EOS token to end a reply with")
    return [tokenizer.eos_token_id]
