"""The agent side: prompting and action parsing, generation backends, the Ray rollout pool, the trainer
and its CLI, evaluation and the replay viewer. Not built yet (see README)."""
