"""Cost of one policy update with the output head on every token (baseline) or on agent tokens only.

In a multi-turn episode most tokens are the environment's; the update reads log-probs at agent
tokens only, so running the 49k-word output head (and its backward) elsewhere is wasted. For each
shape: the same trajectories, the same ``Learner.update`` (GRPO: one no-grad scoring pass, the
forward+backward of every micro-batch, the after-update pass over positive samples) with
``train.agent_logits_only`` off, then on, each from the same initial weights; best of ``--repeats``.

    python benchmarks/update_cost.py            # SmolLM2-135M's shape, WebShop-like and dense episodes (~8 min)
    python benchmarks/update_cost.py --quick    # a tiny model
"""

from __future__ import annotations

import argparse
import copy
import time
from typing import Any

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from agents.collection.trajectory import Trajectory
from agents.config import TrainConfig
from agents.training.learner import Learner

SMOLLM2: dict[str, Any] = dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
               num_attention_heads=9, num_key_value_heads=3, tie_word_embeddings=True)
TINY: dict[str, Any] = dict(vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)
# (name, turns, observation tokens per turn, reply tokens per turn): WebShop at this repository's
# settings has ~1,000-token episodes of 6 turns with replies of up to 32 tokens (~6% agent tokens).
SHAPES = [("webshop-like", 6, 150, 12), ("dense", 6, 100, 100)]


def episodes(count: int, turns: int, observation: int, reply: int, vocab: int) -> list[Trajectory]:
    """``count`` episodes in groups of 4 with rewards 0 and 1: a turn is an observation, then a reply."""
    generator = torch.Generator().manual_seed(0)
    out = []
    for index in range(count):
        lengths = torch.randint(observation // 2, observation * 3 // 2, (turns,), generator=generator).tolist()
        mask = [0] * 60  # the system prompt
        for length in lengths:
            mask += [0] * length + [1] * reply
        ids = torch.randint(0, vocab, (len(mask),), generator=generator).tolist()
        out.append(Trajectory(
            env_id="bench", task_id=str(index // 4), task_info={}, group_id=f"g{index // 4}", sample_index=index % 4,
            seed=0, turns=[], final_observation="", token_ids=ids, agent_mask=mask,
            logprobs=[-1.0 * m for m in mask], reward=float(index % 2), env_return=float(index % 2),
            success=bool(index % 2), invalid_turns=0, end_reason="terminated",
        ))
    return out


def update_seconds(model: Any, trajectories: list[Trajectory], agent_logits_only: bool, repeats: int) -> float:
    config = TrainConfig(algo="grpo", mini_batch_size=len(trajectories), micro_batch_size=4,
                         agent_logits_only=agent_logits_only)
    times = []
    for _ in range(repeats):
        learner = Learner(copy.deepcopy(model), config, pad_token_id=0, temperature=1.0, seed=0)
        start = time.perf_counter()
        learner.update(trajectories, 1)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a tiny model instead of SmolLM2-135M's shape")
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    torch.manual_seed(0)
    shape = TINY if args.quick else SMOLLM2
    model = LlamaForCausalLM(LlamaConfig(**shape, max_position_embeddings=4096))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {'tiny' if args.quick else 'SmolLM2-135M'}"
          f" shape, {args.episodes} episodes, micro-batches of 4, best of {args.repeats}")
    for name, turns, observation, reply in SHAPES:
        trajectories = episodes(args.episodes, turns, observation, reply, shape["vocab_size"])
        tokens = sum(len(t.token_ids) for t in trajectories)
        agent = sum(sum(t.agent_mask) for t in trajectories)
        every = update_seconds(model, trajectories, False, args.repeats)
        only = update_seconds(model, trajectories, True, args.repeats)
        print(f"{name:>12}: {tokens / len(trajectories):6.0f} tokens per episode, {agent / tokens:4.0%} agent | "
              f"head on every token (baseline) {every:6.1f} s | on agent tokens {only:6.1f} s | "
              f"{every / only:.2f}x", flush=True)


if __name__ == "__main__":
    main()
