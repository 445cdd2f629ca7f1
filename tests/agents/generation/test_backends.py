"""The transformers backend on a tiny random model with the real tokenizer."""

from __future__ import annotations

import contextlib
import itertools
from typing import Any

import pytest
import torch

from agents.generation.backends import Generation, HFBackend, SamplingParams
from resrl.forward import forward_logprobs_and_hidden
from tests.agents.conftest import tiny_backend, tiny_model


@pytest.fixture(scope="module")
def backend(tokenizer: Any) -> HFBackend:
    return tiny_backend(tokenizer)


def prompts(tokenizer: Any) -> list[list[int]]:
    texts = ["You are in a kitchen.", "Short.", "A much longer observation with many more words in it than the others."]
    return [tokenizer(t, add_special_tokens=False).input_ids for t in texts]


def test_batched_left_padded_greedy_equals_one_at_a_time(backend: HFBackend, tokenizer: Any) -> None:
    params = SamplingParams(max_new_tokens=8, temperature=0.0)
    batch = backend.generate(prompts(tokenizer), params)
    for prompt, generation in zip(prompts(tokenizer), batch, strict=True):
        alone = backend.generate([prompt], params)[0]
        assert generation.token_ids == alone.token_ids
        assert generation.logprobs == pytest.approx(alone.logprobs, abs=1e-4)


@pytest.mark.parametrize("temperature", [0.0, 0.7])
def test_rollout_logprobs_match_the_trainers_forward_pass(
    backend: HFBackend, tokenizer: Any, temperature: float
) -> None:
    params = SamplingParams(max_new_tokens=6, temperature=temperature, seed=1)
    for prompt, generation in zip(prompts(tokenizer), backend.generate(prompts(tokenizer), params), strict=True):
        ids = torch.tensor([prompt + generation.token_ids])
        forward = forward_logprobs_and_hidden(backend.model, ids, torch.ones_like(ids), temperature=temperature or 1.0)
        recomputed = forward.logprobs[0, len(prompt) - 1 :]
        assert recomputed.tolist() == pytest.approx(generation.logprobs, abs=1e-4)


def test_same_seed_same_samples_and_caller_rng_untouched(backend: HFBackend, tokenizer: Any) -> None:
    params = SamplingParams(max_new_tokens=8, temperature=1.0, seed=7)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    first = backend.generate(prompts(tokenizer), params)
    assert torch.rand(1) == before  # generate did not consume the caller's random stream
    assert [g.token_ids for g in backend.generate(prompts(tokenizer), params)] == [g.token_ids for g in first]
    other = backend.generate(prompts(tokenizer), SamplingParams(max_new_tokens=8, temperature=1.0, seed=8))
    assert [g.token_ids for g in other] != [g.token_ids for g in first]


def test_replies_end_at_the_first_stop_token(tokenizer: Any) -> None:
    model = tiny_model(tokenizer)
    greedy = SamplingParams(max_new_tokens=5, temperature=0.0)
    prompt = prompts(tokenizer)[0]
    free = HFBackend(model, stop_token_ids=[tokenizer.eos_token_id], pad_token_id=tokenizer.pad_token_id)
    first_token = free.generate([prompt], greedy)[0].token_ids[0]
    # Make the model's own first choice a stop token: the reply is that token alone.
    stopping = HFBackend(model, stop_token_ids=[first_token], pad_token_id=tokenizer.pad_token_id)
    generation = stopping.generate([prompt, prompts(tokenizer)[1]], greedy)[0]
    assert generation.token_ids == [first_token] and generation.finish_reason == "stop"
    assert len(generation.logprobs) == 1
    assert free.generate([prompt], greedy)[0].finish_reason in {"stop", "length"}


def test_load_weights_changes_what_is_generated(tokenizer: Any) -> None:
    backend = tiny_backend(tokenizer, seed=0)
    params = SamplingParams(max_new_tokens=6, temperature=0.0)
    before = backend.generate(prompts(tokenizer), params)
    backend.load_weights(tiny_model(tokenizer, seed=1))
    assert [g.token_ids for g in backend.generate(prompts(tokenizer), params)] != [g.token_ids for g in before]


def test_bad_requests_are_refused(backend: HFBackend) -> None:
    assert backend.generate([], SamplingParams()) == []
    with pytest.raises(ValueError, match="at least one token"):
        backend.generate([[]], SamplingParams())
    with pytest.raises(ValueError, match="temperature"):
        SamplingParams(temperature=-1)
    with pytest.raises(ValueError, match="max_new_tokens"):
        SamplingParams(max_new_tokens=0)


MESSAGES = (" The env says: go on.", " Next?")


def conversation(backend: HFBackend, tokenizer: Any, temperature: float) -> tuple[list[list[list[int]]],
                                                                                  list[list[Generation]]]:
    """Three turns over the prompts: each reply and an env message extend the prompt; after turn 2
    one conversation ends and another is shortened, so its prompt no longer extends what came before.
    Returns each turn's prompts and replies."""
    messages = [tokenizer(text, add_special_tokens=False).input_ids for text in MESSAGES]
    batch = prompts(tokenizer)
    asked, replies = [], []
    for turn in range(3):
        generations = backend.generate(batch, SamplingParams(max_new_tokens=6, temperature=temperature, seed=turn))
        asked.append(batch)
        replies.append(generations)
        batch = [p + g.token_ids + messages[(row + turn) % 2]
                 for row, (p, g) in enumerate(zip(batch, generations, strict=True))]
        if turn == 1:
            batch = [batch[0][2:], batch[1]]
    return asked, replies


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_the_prefix_cache_gives_the_replies_computed_afresh(backend: HFBackend, tokenizer: Any,
                                                            temperature: float) -> None:
    _, afresh = conversation(backend, tokenizer, temperature)
    with backend.prefix_cache():
        _, cached = conversation(backend, tokenizer, temperature)
    for fresh_turn, cached_turn in zip(afresh, cached, strict=True):
        assert [g.token_ids for g in cached_turn] == [g.token_ids for g in fresh_turn]
        for fresh, reuse in zip(fresh_turn, cached_turn, strict=True):
            assert reuse.logprobs == pytest.approx(fresh.logprobs, abs=1e-4)
    _, after = conversation(backend, tokenizer, temperature)  # outside the scope nothing is reused
    assert [[g.logprobs for g in turn] for turn in after] == [[g.logprobs for g in turn] for turn in afresh]


def prefill_widths(backend: HFBackend, tokenizer: Any, cache: contextlib.AbstractContextManager[None]) -> list[int]:
    """How many input columns each turn's first forward pass computed."""
    widths: list[int] = []
    hook = backend.model.get_input_embeddings().register_forward_hook(
        lambda _module, inputs, _output: widths.append(inputs[0].shape[1]))
    try:
        with cache:
            _, replies = conversation(backend, tokenizer, 0.0)
    finally:
        hook.remove()
    forwards = [max(len(g.token_ids) for g in turn) for turn in replies]  # a prefill, then one per further token
    assert len(widths) == sum(forwards)
    return [widths[start] for start in itertools.accumulate([0, *forwards[:-1]])]


def test_the_prefix_cache_computes_only_new_tokens(backend: HFBackend, tokenizer: Any) -> None:
    asked, _ = conversation(backend, tokenizer, 0.0)
    afresh = prefill_widths(backend, tokenizer, contextlib.nullcontext())
    cached = prefill_widths(backend, tokenizer, backend.prefix_cache())
    assert afresh == [max(len(p) for p in turn) for turn in asked]
    message = len(tokenizer(MESSAGES[0], add_special_tokens=False).input_ids)
    assert cached[0] == afresh[0]  # nothing cached yet
    assert cached[1] == 1 + message < afresh[1]  # the previous reply's last token and the env's message
    assert cached[2] == len(asked[2][0])  # the shortened conversation shares no prefix: computed whole
