"""One forward pass gives the log-probs and the penultimate hidden states, on several architectures."""

from __future__ import annotations

import pytest
import torch
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

from resrl import forward_logprobs_and_hidden
from resrl.forward import decoder_layers

TINY = {
    "vocab_size": 101,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 3,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 64,
}


def tiny(kind: str) -> PreTrainedModel:
    torch.manual_seed(0)
    config_cls, model_cls = {
        "llama": (LlamaConfig, LlamaForCausalLM),
        "qwen2": (Qwen2Config, Qwen2ForCausalLM),
        "qwen3": (Qwen3Config, Qwen3ForCausalLM),
    }[kind]
    extra = {"head_dim": 8} if kind == "qwen3" else {}
    return model_cls(config_cls(**TINY, **extra)).eval()


@pytest.mark.parametrize("kind", ["llama", "qwen2", "qwen3"])
def test_matches_output_hidden_states_and_log_softmax(kind: str) -> None:
    model = tiny(kind)
    ids = torch.randint(0, 101, (3, 12), generator=torch.Generator().manual_seed(1))
    attention = torch.ones_like(ids)
    attention[1, :4] = 0  # left padding
    out = forward_logprobs_and_hidden(model, ids, attention, with_entropy=True)
    with torch.no_grad():
        ref = model(input_ids=ids, attention_mask=attention, output_hidden_states=True)
    logp = torch.log_softmax(ref.logits.float(), -1)[:, :-1].gather(-1, ids[:, 1:, None]).squeeze(-1)
    torch.testing.assert_close(out.logprobs, logp, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.hidden, ref.hidden_states[-2][:, :-1])
    assert out.entropy is not None
    probs = torch.softmax(ref.logits.float(), -1)[:, :-1]
    torch.testing.assert_close(out.entropy, -(probs * probs.clamp_min(1e-30).log()).sum(-1), atol=1e-4, rtol=1e-4)
    assert not out.hidden.requires_grad


def test_log_probs_carry_the_gradient_and_temperature_applies() -> None:
    model = tiny("llama").train()
    ids = torch.randint(0, 101, (2, 8))
    out = forward_logprobs_and_hidden(model, ids, temperature=0.7)
    out.logprobs.sum().backward()
    assert model.lm_head.weight.grad is not None
    with torch.no_grad():
        logits = model(input_ids=ids).logits.float() / 0.7
    ref = torch.log_softmax(logits, -1)[:, :-1].gather(-1, ids[:, 1:, None]).squeeze(-1)
    torch.testing.assert_close(out.logprobs.detach(), ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["llama", "qwen3"])
def test_the_head_on_chosen_positions_gives_their_log_probs_and_gradients(kind: str) -> None:
    model = tiny(kind).train()
    ids = torch.randint(0, 101, (3, 12), generator=torch.Generator().manual_seed(2))
    attention = torch.ones_like(ids)
    attention[2, 9:] = 0  # right padding
    positions = torch.rand(3, 11, generator=torch.Generator().manual_seed(3)) < 0.3
    full = forward_logprobs_and_hidden(model, ids, attention, temperature=0.7, with_entropy=True)
    (full.logprobs * positions).sum().backward()
    full_grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    model.zero_grad(set_to_none=True)

    chosen = forward_logprobs_and_hidden(model, ids, attention, temperature=0.7, with_entropy=True,
                                         positions=positions)
    chosen.logprobs.sum().backward()
    assert torch.equal(chosen.logprobs.detach()[positions], full.logprobs.detach()[positions])
    assert not chosen.logprobs[~positions].any()
    assert full.entropy is not None and chosen.entropy is not None
    torch.testing.assert_close(chosen.entropy[positions], full.entropy[positions])
    assert not chosen.entropy[~positions].any()
    torch.testing.assert_close(chosen.hidden, full.hidden)
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert len(grads) == len(full_grads)
    for grad, full_grad in zip(grads, full_grads, strict=True):
        torch.testing.assert_close(grad, full_grad, atol=1e-6, rtol=1e-5)


def test_the_hooks_are_removed_and_layers_are_found() -> None:
    model = tiny("qwen2")
    forward_logprobs_and_hidden(model, torch.randint(0, 101, (1, 5)), positions=torch.ones(1, 4, dtype=torch.bool))
    assert len(decoder_layers(model)) == 3
    assert not decoder_layers(model)[-1]._forward_pre_hooks
    assert not model.get_output_embeddings()._forward_pre_hooks
    with pytest.raises(RuntimeError, match="output head"):
        forward_logprobs_and_hidden(model, torch.randint(0, 101, (1, 5)), positions=torch.ones(1, 6, dtype=torch.bool))
    assert not model.get_output_embeddings()._forward_pre_hooks
    with pytest.raises(TypeError, match="decoder layers"):
        decoder_layers(torch.nn.Linear(2, 2))
