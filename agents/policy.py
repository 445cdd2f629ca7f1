"""The policy as the rollout sees it: a tokenizer, the chat format for an env, and a backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch

from agents.backends import GenerationBackend, HFBackend
from agents.chat import ChatFormat
from agents.models import load_model, load_tokenizer, resolve_model
from agents.prompts import system_prompt

BackendName = Literal["hf", "vllm"]


@dataclass
class Policy:
    """``model`` is the trainable transformers model (None when only vLLM holds the weights)."""

    tokenizer: Any
    chat: ChatFormat
    backend: GenerationBackend
    model: Any | None


def load_policy(
    model_name: str | None,
    env_id: str,
    *,
    backend: BackendName = "hf",
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    with_model: bool = True,
    **vllm_args: Any,
) -> Policy:
    """Load ``model_name`` (see :func:`agents.models.resolve_model`) for ``env_id``'s prompts.

    With ``backend="hf"`` the backend generates with the trainable model itself, so updates need no
    copy; with ``"vllm"`` a vLLM engine generates and ``with_model`` decides whether a trainable
    copy is loaded too."""
    tokenizer = load_tokenizer(model_name)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    chat = ChatFormat.from_tokenizer(tokenizer, system_prompt(env_id))
    model = load_model(model_name, dtype=dtype, device=device) if with_model or backend == "hf" else None
    generator: GenerationBackend
    if backend == "hf":
        generator = HFBackend(model, stop_token_ids=chat.stop_token_ids, pad_token_id=tokenizer.pad_token_id)
    else:
        from agents.backends.vllm import VLLMBackend

        generator = VLLMBackend(resolve_model(model_name), stop_token_ids=chat.stop_token_ids, **vllm_args)
    return Policy(tokenizer, chat, generator, model)
