"""pass@k / Avg@k against brute force, and the length-scaled reward."""

from __future__ import annotations

import itertools

import pytest
import torch

from resrl import avg_at_k, length_scaled_reward, mean_pass_at_k, pass_at_k


@pytest.mark.parametrize("n", range(1, 8))
def test_pass_at_k_equals_brute_force(n: int) -> None:
    for c in range(n + 1):
        outcomes = [True] * c + [False] * (n - c)
        for k in range(1, n + 1):
            subsets = list(itertools.combinations(outcomes, k))
            brute = sum(any(s) for s in subsets) / len(subsets)
            assert pass_at_k(n, c, k) == pytest.approx(brute, abs=1e-12)


def test_pass_at_k_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def test_avg_and_mean_pass_at_k_over_tasks() -> None:
    results = {"a": [True, False, False, False], "b": [False] * 4, "c": [True] * 4}
    assert avg_at_k(results) == pytest.approx((0.25 + 0 + 1) / 3)
    assert mean_pass_at_k(results, 1) == pytest.approx(avg_at_k(results))
    assert mean_pass_at_k(results, 4) == pytest.approx(2 / 3)


def test_length_scaled_reward() -> None:
    rewards = torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0, -1.0])
    lengths = torch.tensor([100, 3500, 3798, 5000, 5000, 5000])
    scaled = length_scaled_reward(rewards, lengths)
    torch.testing.assert_close(scaled, torch.tensor([1.0, 1.0, 1 - 0.3 * 298 / 596, 0.7, 0.0, -1.0]))
    custom = length_scaled_reward(torch.tensor([2.0]), torch.tensor([15]), start=10, end=20, end_scale=0.5)
    torch.testing.assert_close(custom, torch.tensor([1.5]))
    with pytest.raises(ValueError):
        length_scaled_reward(rewards, lengths, start=10, end=10)
