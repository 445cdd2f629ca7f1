"""How the policy acts: its model and tokenizer, the chat format, prompts and action parsing, and the
generation backends (transformers, vLLM)."""
