"""The agent side: model loading, generation backends, prompting and action parsing, the Ray
rollout pool and trajectory records (``python -m agents.rollout``). The trainer, evaluation and
the replay viewer build on these."""
