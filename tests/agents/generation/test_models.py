from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from agents.generation.models import ModelError, _find_gguf, load_model, load_tokenizer, resolve_model


@pytest.mark.slow
def test_the_converted_default_model_equals_the_gguf_one(default_model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    gguf = _find_gguf()
    original = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name).eval()
    started = time.perf_counter()
    converted = load_model(str(default_model_dir)).eval()
    print(f"converted checkpoint loads in {time.perf_counter() - started:.2f} s")
    tokenizer = load_tokenizer(str(default_model_dir))
    ids = tokenizer("Put a clean mug in the coffee machine.", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.equal(original(ids).logits, converted(ids).logits)
    assert not list(default_model_dir.parent.glob(".staging-*"))  # published atomically
    assert "quantization_config" not in (default_model_dir / "config.json").read_text()


def test_paths_and_ids_resolve_or_fail_clearly(tiny_model_dir: Path, tmp_path: Path) -> None:
    assert resolve_model(str(tiny_model_dir)) == str(tiny_model_dir)
    assert resolve_model("org/some-model") == "org/some-model"  # a Hub id, looked up in the cache
    with pytest.raises(ModelError, match=r"no config\.json"):
        resolve_model(str(tmp_path))
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model(str(tmp_path / "absent"))
    with pytest.raises(ModelError, match="could not be loaded"):
        load_tokenizer("no-such-org/no-such-model")
