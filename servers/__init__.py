"""FastAPI services: an app factory serving any registered env, and the code sandbox. Not built yet
(see README)."""
