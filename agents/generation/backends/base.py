"""The one interface every generation backend implements: token ids in, token ids and log-probs out."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Literal, Protocol

import torch

FinishReason = Literal["stop", "length"]


class BackendError(RuntimeError):
    """A backend that cannot run here (not installed, or the machine lacks what it needs)."""


@dataclass(frozen=True)
class SamplingParams:
    """How to decode one batch. ``temperature=0`` is greedy decoding."""

    max_new_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None  # same seed and batch → same samples

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")


@dataclass(frozen=True)
class Generation:
    """One reply: exactly the ids the model produced (a stop token included when it ended on one),
    the log-probability of each under the temperature-scaled distribution the trainer recomputes
    (before top-p truncation), and why it ended."""

    token_ids: list[int]
    logprobs: list[float]
    finish_reason: FinishReason


class GenerationBackend(Protocol):
    """Generates for a batch of prompts given as token ids (never re-tokenised)."""

    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[Generation]:
        """One generation per prompt, in order."""
        ...

    def load_weights(self, model: torch.nn.Module) -> None:
        """Generate with ``model``'s current weights from now on (the trainer's model, after an update)."""
        ...

    def prefix_cache(self) -> AbstractContextManager[None]:
        """A scope in which a prompt that extends an earlier prompt and its reply reuses their
        computation (multi-turn rollouts); the weights must not change inside it."""
        ...
