"""Evaluation metrics: Avg@k and the unbiased pass@k estimator (Chen et al., 2021)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


def pass_at_k(num_samples: int, num_correct: int, k: int) -> float:
    """Unbiased estimate of P(at least one of k samples is correct): ``1 - C(n-c, k) / C(n, k)``.

    Computed as a product to stay exact in floating point for large ``n``.
    """
    if not 0 <= num_correct <= num_samples or not 1 <= k <= num_samples:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={num_samples}, c={num_correct}, k={k}")
    if num_samples - num_correct < k:
        return 1.0
    miss = 1.0
    for i in range(num_samples - num_correct + 1, num_samples + 1):
        miss *= 1.0 - k / i
    return 1.0 - miss


def mean_pass_at_k(results: Mapping[str, Sequence[bool]], k: int) -> float:
    """pass@k per task, averaged over tasks. ``results`` maps task id → per-sample success."""
    return _mean(pass_at_k(len(s), sum(map(bool, s)), k) for s in results.values())


def avg_at_k(results: Mapping[str, Sequence[bool]]) -> float:
    """Avg@k: mean success over each task's samples, averaged over tasks."""
    return _mean(sum(map(bool, s)) / len(s) for s in results.values())


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    if not items:
        raise ValueError("no tasks to average over")
    return sum(items) / len(items)
