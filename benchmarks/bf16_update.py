"""Should updates run under bfloat16 autocast on the CPU? One update's log-probs, gradient and time
under ``torch.autocast("cpu", torch.bfloat16)`` against float32, in the same run.

Batch: ``--rows`` rows of ``--tokens`` tokens of English text (this repository's docs), every token
an agent token, advantages ±1 per row, the clipped loss at ratio 1 (the first mini-batch of an
update): the gradient is then the policy gradient itself. Tolerance for "it holds": mean |Δ log p|
≤ 0.01 nats, max ≤ 0.25, gradient cosine similarity ≥ 0.99 and relative error ≤ 0.1.

    python benchmarks/bf16_update.py [--rows 4] [--tokens 512] [--repeats 3] [--model DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

import torch

import resrl
from agents.generation.models import DEFAULT_MODEL, load_model, load_tokenizer

TOLERANCE = {"mean_gap": 0.01, "max_gap": 0.25, "cosine": 0.99, "relative_error": 0.1}


def batch(model_name: str, rows: int, tokens: int) -> torch.Tensor:
    text = " ".join(path.read_text() for path in sorted(Path(__file__).parents[1].glob("docs/*.md")))
    ids = load_tokenizer(model_name)(text, add_special_tokens=False).input_ids
    if len(ids) < rows * tokens:
        raise SystemExit(f"the docs hold {len(ids)} tokens; ask for fewer --rows x --tokens")
    return torch.tensor(ids[: rows * tokens]).reshape(rows, tokens)


def update(model: torch.nn.Module, input_ids: torch.Tensor, bf16: bool) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Log-probs ``[rows, tokens-1]``, the flattened gradient and the forward+backward seconds."""
    model.zero_grad(set_to_none=True)
    advantages = torch.tensor([1.0, -1.0]).repeat(len(input_ids) // 2 + 1)[: len(input_ids), None]
    mask = torch.ones(input_ids.shape[0], input_ids.shape[1] - 1, dtype=torch.bool)
    started = time.perf_counter()
    with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
        out = resrl.forward_logprobs_and_hidden(model, input_ids, torch.ones_like(input_ids))
        logprobs = out.logprobs.float()
        loss = resrl.policy_loss(logprobs, logprobs.detach(), advantages.expand_as(logprobs), mask).loss
    loss.backward()
    seconds = time.perf_counter() - started
    gradient = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]).double()
    return logprobs.detach(), gradient, seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    args = parser.parse_args(argv)
    model = load_model(args.model)
    model.train()
    input_ids = batch(args.model, args.rows, args.tokens)
    times: dict[bool, list[float]] = {False: [], True: []}
    results = {}
    for _ in range(args.repeats):  # interleaved, so drift in the machine's speed hits both alike
        for bf16 in (False, True):
            logprobs, gradient, seconds = update(model, input_ids, bf16)
            times[bf16].append(seconds)
            results[bf16] = (logprobs, gradient)
    (lp32, g32), (lp16, g16) = results[False], results[True]
    gap = (lp16 - lp32).abs()
    found = {"mean_gap": float(gap.mean()), "max_gap": float(gap.max()),
             "cosine": float(torch.nn.functional.cosine_similarity(g16, g32, dim=0)),
             "relative_error": float((g16 - g32).norm() / g32.norm())}
    fp32_s, bf16_s = min(times[False]), min(times[True])
    print(f"batch {args.rows} x {args.tokens} tokens, model {args.model}, {torch.get_num_threads()} threads")
    print(f"forward+backward: float32 {fp32_s:.2f} s, bf16 autocast {bf16_s:.2f} s ({fp32_s / bf16_s:.2f}x float32)")
    print(f"log-probs: mean |Δ| {found['mean_gap']:.4f}, max |Δ| {found['max_gap']:.3f} nats")
    print(f"gradient: cosine {found['cosine']:.4f}, relative error {found['relative_error']:.3f}")
    failed = [f"{key} {found[key]:.4g}" for key in ("mean_gap", "max_gap", "relative_error")
              if found[key] > TOLERANCE[key]] + ([f"cosine {found['cosine']:.4f}"]
                                                 if found["cosine"] < TOLERANCE["cosine"] else [])
    print("within tolerance" if not failed else f"outside tolerance: {', '.join(failed)}")


if __name__ == "__main__":
    main()
