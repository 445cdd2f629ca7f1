"""ResRL, GRPO and NSR on one code path, in plain torch.

Read top to bottom next to docs/resrl.md:
``group_advantages`` → ``residual_weights`` → ``token_advantages`` → ``policy_loss``.
``forward_logprobs_and_hidden`` gives the log-probs and hidden states from one forward;
``truncated_is_weights`` corrects for a rollout engine whose numerics differ from the trainer's.
"""

from resrl.advantages import ALGOS, Algo, group_advantages, token_advantages
from resrl.forward import TokenForward, forward_logprobs_and_hidden
from resrl.loss import PolicyLoss, k3, negative_weight_mean, policy_loss
from resrl.metrics import avg_at_k, mean_pass_at_k, pass_at_k
from resrl.mismatch import Mismatch, mismatch, truncated_is_weights
from resrl.rewards import length_scaled_reward
from resrl.weights import residual_weights

__all__ = [
    "ALGOS",
    "Algo",
    "Mismatch",
    "PolicyLoss",
    "TokenForward",
    "avg_at_k",
    "forward_logprobs_and_hidden",
    "group_advantages",
    "k3",
    "length_scaled_reward",
    "mean_pass_at_k",
    "mismatch",
    "negative_weight_mean",
    "pass_at_k",
    "policy_loss",
    "residual_weights",
    "token_advantages",
    "truncated_is_weights",
]
