"""Generation backends behind one interface: transformers (CPU default) and vLLM (CUDA, optional)."""

from agents.backends.base import FinishReason, Generation, GenerationBackend, SamplingParams
from agents.backends.hf import HFBackend

__all__ = ["FinishReason", "Generation", "GenerationBackend", "HFBackend", "SamplingParams"]
