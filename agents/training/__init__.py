"""How the policy is updated: the learner (ResRL, GRPO, NSR on one code path), checkpoints, the
curriculum and task filter, dynamic sampling, and the held-out score inside a run."""
