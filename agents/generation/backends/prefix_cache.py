"""Keys and values kept between the turns of multi-turn conversations, for the transformers backend.

Each turn a conversation's prompt is its previous prompt, the reply, and the env's next message.
Without a cache every turn computes the whole conversation again; with one, a turn computes only the
new tokens. Rows of a batch hold prefixes of different lengths, so the batch is laid out as
``[pad | cached prefix | pad | new tokens]``: padding is masked out, and positions, counted over
the attention mask, are what a fresh computation would give.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer


@dataclass(frozen=True)
class CachedPrefix:
    """The keys and values of ``ids``, one ``[kv_heads, len(ids), head_dim]`` pair per layer."""

    ids: list[int]
    layers: list[tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class BatchLayout:
    """Where each row's cached prefix and new tokens sit in one generation batch."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    past_key_values: DynamicCache | None
    cached: list[int]  # tokens of each row that come from the cache
    width: int  # the batch's input columns: cached part and new tokens

    @property
    def cache_width(self) -> int:
        return max(self.cached)


class PrefixCache:
    """Prefixes from one generation call, offered to the next. A conversation that does not go on in
    the next call has ended (or was shortened), so whatever that call does not reuse is dropped."""

    def __init__(self) -> None:
        self._prefixes: list[CachedPrefix] = []

    def layout(self, prompts: Sequence[Sequence[int]], pad_token_id: int) -> BatchLayout:
        """The batch for ``prompts``, each row starting from its longest cached proper prefix."""
        hits = [self._longest_prefix(list(prompt)) for prompt in prompts]
        self._prefixes = []
        cached = [len(hit.ids) if hit else 0 for hit in hits]
        cache_width = max(cached)
        width = cache_width + max(len(prompt) - done for prompt, done in zip(prompts, cached, strict=True))
        input_ids = torch.full((len(prompts), width), pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, (prompt, done) in enumerate(zip(prompts, cached, strict=True)):
            new = len(prompt) - done
            input_ids[row, cache_width - done : cache_width] = torch.tensor(list(prompt[:done]), dtype=torch.long)
            input_ids[row, width - new :] = torch.tensor(list(prompt[done:]), dtype=torch.long)
            attention_mask[row, cache_width - done : cache_width] = 1
            attention_mask[row, width - new :] = 1
        past = _batched(hits, cache_width) if cache_width else None
        return BatchLayout(input_ids, attention_mask, past, cached, width)

    def keep(self, layout: BatchLayout, prompts: Sequence[Sequence[int]], replies: Sequence[Sequence[int]],
             past_key_values: DynamicCache | None) -> None:
        """Keep each row's prompt and reply (but its last token, which was never fed) for the next call.
        Only plain attention caches can be cut per row: other models compute every turn afresh."""
        tensors = _plain_layers(past_key_values)
        if tensors is None:
            return
        for row, (prompt, reply) in enumerate(zip(prompts, replies, strict=True)):
            done, new = layout.cached[row], len(prompt) - layout.cached[row]
            columns = torch.cat([torch.arange(layout.cache_width - done, layout.cache_width),
                                 torch.arange(layout.width - new, layout.width + len(reply) - 1)])
            columns = columns.to(tensors[0][0].device)
            layers = [(keys[row].index_select(1, columns), values[row].index_select(1, columns))
                      for keys, values in tensors]
            self._prefixes.append(CachedPrefix([*prompt, *reply[:-1]], layers))

    def _longest_prefix(self, prompt: list[int]) -> CachedPrefix | None:
        fits = [p for p in self._prefixes if len(p.ids) < len(prompt) and prompt[: len(p.ids)] == p.ids]
        return max(fits, key=lambda p: len(p.ids), default=None)


def _plain_layers(cache: DynamicCache | None) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
    """Every layer's keys and values, or None when there are none (a model that keeps no cache) or a
    layer is not plain attention (a sliding window forgets early tokens; linear attention keeps a state)."""
    if not isinstance(cache, DynamicCache):
        return None
    tensors = []
    for layer in cache.layers:
        if type(layer) is not DynamicLayer or layer.keys is None or layer.values is None:
            return None
        tensors.append((layer.keys, layer.values))
    return tensors


def _batched(hits: Sequence[CachedPrefix | None], width: int) -> DynamicCache:
    """One cache for the batch: each row's keys and values right-aligned in ``width`` columns."""
    template = next(hit for hit in hits if hit is not None).layers
    layers = []
    for index, (keys, values) in enumerate(template):
        batch_keys = keys.new_zeros((len(hits), keys.shape[0], width, keys.shape[2]))
        batch_values = values.new_zeros((len(hits), values.shape[0], width, values.shape[2]))
        for row, hit in enumerate(hits):
            if hit is not None:
                length = len(hit.ids)
                batch_keys[row, :, width - length :] = hit.layers[index][0]
                batch_values[row, :, width - length :] = hit.layers[index][1]
        layers.append((batch_keys, batch_values))
    return DynamicCache(ddp_cache_data=layers)
