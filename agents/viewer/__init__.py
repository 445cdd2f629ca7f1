"""The trajectory replay viewer: ``python -m agents.viewer runs/`` serves it on localhost."""
