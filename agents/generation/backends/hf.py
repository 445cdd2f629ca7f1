"""Generation with transformers' ``generate``: batched, left-padded, the CPU default."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from agents.generation.backends.base import Generation, SamplingParams
from agents.generation.backends.prefix_cache import PrefixCache


class HFBackend:
    """Generates with a Hugging Face causal LM: the trainer's model object itself, so an update's new
    weights are seen with no copy."""

    def __init__(self, model: Any, *, stop_token_ids: Sequence[int], pad_token_id: int) -> None:
        if not stop_token_ids:
            raise ValueError("at least one stop token id is needed")
        self.model = model
        self.stop_token_ids = list(stop_token_ids)
        self.pad_token_id = pad_token_id
        self._cache: PrefixCache | None = None

    @contextlib.contextmanager
    def prefix_cache(self) -> Iterator[None]:
        """Within it, each call keeps its rows' keys and values, and a prompt that extends an earlier
        prompt and its reply computes only its new tokens. The weights must not change inside."""
        self._cache = PrefixCache()
        try:
            yield
        finally:
            self._cache = None

    @torch.no_grad()
    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[Generation]:
        if not prompts:
            return []
        if any(len(prompt) == 0 for prompt in prompts):
            raise ValueError("every prompt needs at least one token")
        device = next(self.model.parameters()).device
        # left padding: every prompt ends at the last column (with no cache, nothing comes from one)
        layout = (self._cache or PrefixCache()).layout(prompts, self.pad_token_id)
        sample = params.temperature > 0
        was_training = self.model.training
        self.model.eval()
        with torch.random.fork_rng(devices=[]):  # seeding here leaves the caller's RNG untouched
            if params.seed is not None:
                torch.manual_seed(params.seed)
            out = self.model.generate(
                input_ids=layout.input_ids.to(device),
                attention_mask=layout.attention_mask.to(device),
                past_key_values=layout.past_key_values,
                max_new_tokens=params.max_new_tokens,
                do_sample=sample,
                temperature=params.temperature if sample else None,
                top_p=params.top_p if sample else None,
                top_k=None,
                eos_token_id=self.stop_token_ids,
                pad_token_id=self.pad_token_id,
                output_logits=True,
                return_dict_in_generate=True,
            )
        self.model.train(was_training)
        new_tokens = out.sequences[:, layout.width :].cpu()
        scale = params.temperature if sample else 1.0
        logits = torch.stack(out.logits, dim=1).float().cpu() / scale  # [batch, new, vocab]
        chosen = torch.log_softmax(logits, dim=-1).gather(-1, new_tokens.unsqueeze(-1)).squeeze(-1)
        generations = [self._trim(ids, lps) for ids, lps in zip(new_tokens.tolist(), chosen.tolist(), strict=True)]
        if self._cache is not None:
            self._cache.keep(layout, prompts, [g.token_ids for g in generations], out.past_key_values)
        return generations

    def _trim(self, ids: list[int], logprobs: list[float]) -> Generation:
        """Cut a row after its first stop token (what follows is padding)."""
        for position, token in enumerate(ids):
            if token in self.stop_token_ids:
                return Generation(ids[: position + 1], logprobs[: position + 1], "stop")
        return Generation(ids, logprobs, "length")

    def load_weights(self, model: Any) -> None:
        self.model = model
