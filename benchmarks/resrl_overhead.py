"""Cost of ResRL's weighting relative to one training step's forward + backward.

For each model size, group size G and sequence length T: one forward+backward of a batch
of G sequences (the step the trainer does anyway), then ``residual_weights`` +
``token_advantages`` on the hidden states that forward produced, with the positives' Gram matrix in
fp32 and in fp64 (the default). Prints the fp64 weighting's share of the step (goal: under 3%) and
its cost against fp32. All are timed in the same run, best of ``--repeats``.

    python benchmarks/resrl_overhead.py            # tiny model + SmolLM2-sized, a few shapes (~5 min on 2 cores)
    python benchmarks/resrl_overhead.py --quick    # tiny model only
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import torch
from transformers import LlamaConfig, LlamaForCausalLM

import resrl

MODELS: dict[str, dict[str, Any]] = {
    # A random 6M-parameter model with a small vocabulary, as the tests use.
    "tiny": dict(
        vocab_size=2048,
        hidden_size=256,
        intermediate_size=704,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
    ),
    # SmolLM2-135M's shape (the default policy), randomly initialised.
    "smollm2-135m": dict(
        vocab_size=49152,
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
    ),
}
SHAPES = {"tiny": [(4, 512), (8, 1024), (16, 512), (4, 4096)], "smollm2-135m": [(4, 512), (8, 512)]}


def best_of(repeats: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(
    model: torch.nn.Module,
    ids: torch.Tensor,
    agent_mask: torch.Tensor,
    advantages: torch.Tensor,
    group_ids: torch.Tensor,
    repeats: int,
) -> tuple[float, float, float]:
    """Seconds for one forward+backward, and for the weighting of what that forward produced with the
    positives' Gram matrix in fp32 and in fp64 (the default)."""
    captured: dict[str, torch.Tensor] = {}

    def step() -> None:
        out = resrl.forward_logprobs_and_hidden(model, ids)
        (out.logprobs * agent_mask).sum().backward()
        captured["hidden"] = out.hidden
        model.zero_grad(set_to_none=True)

    def weigh(gram_dtype: torch.dtype) -> Callable[[], None]:
        def run() -> None:
            generator = torch.Generator().manual_seed(0)
            w = resrl.residual_weights(captured["hidden"], advantages, agent_mask, group_ids, generator=generator,
                                       gram_dtype=gram_dtype)
            resrl.token_advantages(advantages, w, agent_mask, algo="resrl")
        return run

    step_time = best_of(repeats, step)
    return step_time, best_of(max(repeats, 3), weigh(torch.float32)), best_of(max(repeats, 3), weigh(torch.float64))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny model only")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device cpu")
    print(f"{'model':>13} {'G':>3} {'T':>5} {'agent tok':>9} {'fwd+bwd s':>9} {'w fp32 s':>9} {'w fp64 s':>9} "
          f"{'fp64 ratio':>10} {'fp64/fp32':>9}")
    for name, shape in MODELS.items():
        if args.quick and name != "tiny":
            continue
        model = LlamaForCausalLM(LlamaConfig(**shape, max_position_embeddings=4096)).train()
        for group_size, length in SHAPES[name]:
            ids = torch.randint(0, shape["vocab_size"], (group_size, length))
            # Multi-turn: a prompt, then alternating agent replies and observations (~50% agent tokens).
            agent = (torch.arange(length - 1) // 64) % 2 == 1
            agent_mask = agent.expand(group_size, -1).clone()
            advantages = resrl.group_advantages(torch.tensor([1.0, 0.0] * (group_size // 2)), torch.zeros(group_size))
            group_ids = torch.zeros(group_size, dtype=torch.long)
            step_time, fp32_time, fp64_time = measure(model, ids, agent_mask, advantages, group_ids, args.repeats)
            print(
                f"{name:>13} {group_size:>3} {length:>5} {int(agent_mask.sum()):>9} {step_time:>9.3f} "
                f"{fp32_time:>9.4f} {fp64_time:>9.4f} {fp64_time / step_time:>10.2%} {fp64_time / fp32_time:>8.2f}x",
                flush=True,
            )


if __name__ == "__main__":
    main()
