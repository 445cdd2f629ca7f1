"""One forward pass giving token log-probs and the penultimate hidden states ResRL needs.

The hidden state ResRL uses is ``hidden_states[-2]`` of a Hugging Face causal LM: the
input of the last decoder layer. Asking the model for ``output_hidden_states=True``
would keep every layer's states alive, so a forward pre-hook on the last decoder
layer captures just that one tensor during the forward the trainer does anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class TokenForward:
    """Outputs aligned with ``input_ids[:, 1:]``: index ``t`` describes token ``t + 1``.

    ``hidden`` is detached (weights get no gradient); ``logprobs`` carries the graph.
    """

    logprobs: Tensor
    hidden: Tensor
    entropy: Tensor | None


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder's layer list of a Hugging Face causal LM, also when wrapped by peft."""
    unwrap = getattr(model, "get_base_model", None)  # a peft wrapper
    base: Any = unwrap() if callable(unwrap) else model
    decoder: Any = base.get_decoder() if hasattr(base, "get_decoder") else getattr(base, "model", base)
    for name in ("layers", "h", "blocks"):
        layers = getattr(decoder, name, None)
        if isinstance(layers, nn.ModuleList) and len(layers) > 0:
            return layers
    raise TypeError(f"cannot find the decoder layers of {type(model).__name__}")


def forward_logprobs_and_hidden(
    model: nn.Module,
    input_ids: Tensor,
    attention_mask: Tensor | None = None,
    *,
    temperature: float = 1.0,
    with_entropy: bool = False,
    positions: Tensor | None = None,
) -> TokenForward:
    """Run ``model`` once on ``input_ids`` ``[B, T]``; return per-token log-probs ``[B, T-1]``,
    penultimate hidden states ``[B, T-1, d]`` (the state at the position predicting each
    token) and optionally the entropy of each predictive distribution.

    ``temperature`` divides the logits as the sampler did, so log-probs match rollout ones.
    ``positions`` (boolean ``[B, T-1]``, e.g. the agent mask) runs the output head only where a
    log-prob is wanted; log-probs and entropies are 0 elsewhere. In a multi-turn conversation agent
    tokens are a few percent of the whole, so this drops most of the head's cost, its backward
    included. The log-probs are the same; gradients differ in float rounding only.
    """
    captured: dict[str, Tensor] = {}

    def capture(_module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        states = args[0] if args else kwargs["hidden_states"]
        captured["hidden"] = states.detach()

    handles = [decoder_layers(model)[-1].register_forward_pre_hook(capture, with_kwargs=True)]
    if positions is not None:
        keep = nn.functional.pad(positions.bool(), (0, 1))  # the last position predicts no token of the input

        def select(_module: nn.Module, args: tuple[Any, ...]) -> tuple[Tensor]:
            if len(args) != 1 or args[0].shape[:2] != keep.shape:
                raise RuntimeError("the output head was not called on one [B, T, d] tensor of hidden states")
            return (args[0][keep],)

        head: nn.Module = cast(Any, model).get_output_embeddings()  # an HF causal LM's, peft-wrapped or not
        handles.append(head.register_forward_pre_hook(select))
    try:
        logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits
    finally:
        for handle in handles:
            handle.remove()
    if "hidden" not in captured:
        raise RuntimeError("the last decoder layer was not called during the forward pass")

    targets = input_ids[:, 1:]
    if positions is None:
        logits = logits[:, :-1]
    else:
        targets = targets[positions.bool()]
    logits = logits.float()
    if temperature != 1.0:
        logits = logits / temperature
    log_norm = torch.logsumexp(logits, dim=-1)
    logprobs = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - log_norm
    entropy = None
    if with_entropy:
        with torch.no_grad():
            probs = torch.softmax(logits, dim=-1)
            entropy = log_norm - (probs * logits).sum(-1)
    if positions is not None:
        logprobs = _spread(logprobs, positions)
        entropy = None if entropy is None else _spread(entropy, positions)
    return TokenForward(logprobs=logprobs, hidden=captured["hidden"][:, :-1], entropy=entropy)


def _spread(values: Tensor, positions: Tensor) -> Tensor:
    """``values`` of the ``True`` entries of ``positions``, laid out as ``positions`` with 0 elsewhere."""
    return values.new_zeros(positions.shape).masked_scatter(positions.bool(), values)
