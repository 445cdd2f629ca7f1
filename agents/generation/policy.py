"""The policy as the rollout sees it: a tokenizer, the chat format for an env, and a backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

from agents.config import BackendName, RunConfig, VLLMConfig
from agents.generation.backends import GenerationBackend, HFBackend
from agents.generation.chat import ChatFormat
from agents.generation.models import load_model, load_tokenizer, resolve_model
from agents.generation.prompts import system_prompt


def choose_backend(name: BackendName) -> Literal["hf", "vllm"]:
    """``auto`` is the fastest backend this machine has: vLLM where it is installed and the CPU (or
    a GPU) runs it, transformers otherwise. On 2 CPU cores vLLM in bfloat16 generates several times
    faster than transformers in float32 (``benchmarks/generation.py``)."""
    if name != "auto":
        return name
    from agents.generation.backends.vllm import cpu_problem, vllm_installed

    return "vllm" if vllm_installed() and (torch.cuda.is_available() or cpu_problem() is None) else "hf"


@dataclass
class Policy:
    """``model`` is the trainable transformers model (None when only vLLM holds the weights)."""

    tokenizer: Any
    chat: ChatFormat
    backend: GenerationBackend
    model: Any | None
    backend_name: Literal["hf", "vllm"] = "hf"


def load_policy(
    model_name: str | None,
    env_id: str,
    *,
    backend: BackendName = "hf",
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    with_model: bool = True,
    vllm: VLLMConfig | None = None,
    max_model_len: int | None = None,
    seed: int = 0,
) -> Policy:
    """Load ``model_name`` (see :func:`agents.generation.models.resolve_model`) for ``env_id``'s prompts.

    With ``backend="hf"`` the backend generates with the trainable model itself, so updates need no
    copy; with ``"vllm"`` a vLLM engine (``vllm`` settings, prompts and replies of at most
    ``max_model_len`` tokens) generates and ``with_model`` decides whether a trainable copy is
    loaded too."""
    backend = choose_backend(backend)
    tokenizer = load_tokenizer(model_name)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    chat = ChatFormat.from_tokenizer(tokenizer, system_prompt(env_id))
    model = load_model(model_name, dtype=dtype, device=device) if with_model or backend == "hf" else None
    generator: GenerationBackend
    if backend == "hf":
        generator = HFBackend(model, stop_token_ids=chat.stop_token_ids, pad_token_id=tokenizer.pad_token_id)
    else:
        from agents.generation.backends.vllm import VLLMBackend

        generator = VLLMBackend(resolve_model(model_name), stop_token_ids=chat.stop_token_ids, settings=vllm,
                                max_model_len=max_model_len, seed=seed)
    return Policy(tokenizer, chat, generator, model, backend)


def load_run_policy(model_name: str | None, config: RunConfig, backend: BackendName, *, seed: int = 0,
                    device: str = "cpu", dtype: torch.dtype = torch.float32) -> Policy:
    """The policy a run's config asks for: its env's prompts, its vLLM settings, its context budget."""
    return load_policy(model_name, config.env.id, backend=backend, device=device, dtype=dtype,
                       vllm=config.rollout.vllm, max_model_len=config.rollout.context_tokens, seed=seed)
