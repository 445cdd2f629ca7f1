"""The agent side, in the order a run flows: ``generation`` (the policy acts), ``collection``
(episodes over Ray env workers become trajectories), ``training`` (updates, checkpoints, curricula),
``evaluation`` (intervals, reports) and ``viewer``. The commands sit on top, ``python -m
agents.<command>``: rollout, warmstart, train, eval, compare, viewer; ``config``, ``metrics`` and
``run_files`` are what they all share."""
