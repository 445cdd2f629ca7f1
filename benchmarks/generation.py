"""Generation backends on the main job's rollout: transformers in float32 (the baseline) and bfloat16,
and vLLM, each with 1 and 2 env workers, all in the same run.

Workload: the main job's first rollout (``configs/alfworld.yaml``: generated ALFWorld games on the
real engine, 4 tasks × 4 samples, at most 8 turns of at most 16 sampled tokens, prefix caching),
with the starting model, which rarely stops early. Figures: wall time, generated tokens/s, env
steps/s, the time split, and how close generation comes to this machine's compute bound for the
model: the conversations' tokens, each computed once, × 2·parameters FLOPs per token (attention
not counted, so the bound is optimistic), ÷ the matmul FLOP/s of the backend's dtype measured here.
Engine start-up is reported on its own line (once per run).

    python benchmarks/generation.py [--tasks 4] [--group-size 4] [--model DIR] [--backends hf-fp32 hf-bf16 vllm]
"""

from __future__ import annotations

import argparse
import gc
import time
from typing import Any

import torch

from agents.collection.collector import RolloutResult, collect, group_requests
from agents.collection.workers import WorkerPool, start_ray
from agents.config import BackendName, RunConfig, load_config
from agents.generation.models import DEFAULT_MODEL
from agents.generation.policy import Policy, load_run_policy
from agents.machine import describe
from envs.spec import config_path

BACKENDS: dict[str, tuple[BackendName, torch.dtype, str]] = {  # name → (backend, model dtype, vLLM dtype)
    "hf-fp32": ("hf", torch.float32, "float32"),
    "hf-bf16": ("hf", torch.bfloat16, "float32"),
    "vllm": ("vllm", torch.float32, "auto"),
}


def matmul_flops(dtype: torch.dtype, seconds: float = 1.0) -> float:
    """FLOP/s of a large matmul shaped like the model's MLP, on all threads."""
    a, b = torch.randn(512, 576, dtype=dtype), torch.randn(576, 1536, dtype=dtype)
    for _ in range(3):
        a @ b
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        a @ b
        count += 1
    return 2 * 512 * 576 * 1536 * count / (time.perf_counter() - started)


def flops_per_token(model_dir: str) -> float:
    """2 × parameters (the output head counted once when tied to the embedding; the lookup is free)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_dir)
    hidden, vocab = config.hidden_size, config.vocab_size
    layers, inter = config.num_hidden_layers, config.intermediate_size
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads
    head_dim = getattr(config, "head_dim", None) or hidden // heads
    attention = hidden * head_dim * (2 * heads + 2 * kv_heads)
    return 2.0 * (layers * (attention + 3 * hidden * inter) + vocab * hidden)


def run(policy: Policy, config: RunConfig, workers: int, tasks: int, group_size: int, seed: int) -> RolloutResult:
    spec = config.env.model_dump()
    requests = group_requests(tasks, group_size, seed=seed)
    pool = WorkerPool(spec, num_workers=workers, slots_per_worker=-(-len(requests) // workers), worker_cpus=0)
    try:  # warm-up: envs built, games generated and cached in every worker, the backend's first call
        collect(requests[:workers], pool=pool, backend=policy.backend, chat=policy.chat, env_id=config.env.id,
                config=config.rollout, seed=seed + 1)
        return collect(requests, pool=pool, backend=policy.backend, chat=policy.chat, env_id=config.env.id,
                       config=config.rollout, seed=seed)
    finally:
        pool.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--group-size", type=int, default=4)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--backends", nargs="+", choices=list(BACKENDS), default=list(BACKENDS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    config = load_config(config_path("alfworld"))
    config.env.kwargs |= {"source": "generated"}
    from agents.generation.models import resolve_model

    per_token = flops_per_token(resolve_model(args.model))
    peak = {dtype: matmul_flops(dtype) for dtype in (torch.float32, torch.bfloat16)}
    print(f"workload: {args.tasks} tasks x {args.group_size} samples, <= {config.rollout.max_turns} turns of "
          f"<= {config.rollout.max_new_tokens} tokens, model {args.model} ({per_token / 1e9:.2f} GFLOP/token); "
          f"matmul: {peak[torch.float32] / 1e9:.0f} GFLOP/s float32, {peak[torch.bfloat16] / 1e9:.0f} GFLOP/s "
          f"bfloat16; {torch.get_num_threads()} threads")
    print(f"machine: {describe()}")
    start_ray(object_store_mb=256)
    baseline: tuple[str, float] | None = None  # the first backend's first run
    for name in args.backends:
        backend, dtype, vllm_dtype = BACKENDS[name]
        config.rollout.vllm = config.rollout.vllm.model_copy(update={"dtype": vllm_dtype})
        started = time.perf_counter()
        policy = load_run_policy(args.model, config, backend, seed=args.seed, dtype=dtype)
        engine: Any = policy.backend
        compute_dtype = torch.bfloat16 if getattr(engine, "dtype", None) == "bfloat16" or dtype == torch.bfloat16 \
            else torch.float32
        print(f"{name:8} start-up {time.perf_counter() - started:5.1f} s, computes in {compute_dtype}")
        for workers in (1, 2):
            if hasattr(engine, "llm"):  # the previous run's prompts must not be served from vLLM's cache
                engine.llm.reset_prefix_cache()
            result = run(policy, config, workers, args.tasks, args.group_size, args.seed)
            s = result.stats
            rate = s.generated_tokens / s.generate_s
            baseline = baseline or (f"{name} {workers}w", rate)
            computed = sum(len(t.token_ids) for t in result.trajectories)
            bound_s = computed * per_token / peak[compute_dtype]
            print(f"{name:8} {workers} worker{'s' if workers > 1 else ' '} {s.total_s:6.1f} s wall | "
                  f"{rate:6.1f} generated tok/s ({rate / baseline[1]:4.1f}x {baseline[0]}) | "
                  f"{s.env_steps / s.total_s:5.2f} env steps/s | "
                  f"generate {s.generate_s:5.1f} s, env {s.env_s:5.1f} s | "
                  f"{computed} tokens computed: {s.generate_s / bound_s:4.1f}x the compute bound")
        del policy, engine
        gc.collect()


if __name__ == "__main__":
    main()
