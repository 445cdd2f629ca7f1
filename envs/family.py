"""One record per env family, kept next to its env (``envs/<family>/family.py``): its id and entry
point, its held-out split, what the agent is told and how its replies are read, and the env
arguments its expert needs. The registry finds these records, so adding a family touches its own
folder, its ``configs/<name>.yaml`` and a compose service, nothing else."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The reply format of families whose action is one line of the reply (agents.prompts reads it).
ACTION_SYNTAX = """Think briefly if you need to, then end your reply with exactly one line:
Action: <your action>"""


@dataclass(frozen=True)
class EnvFamily:
    """How the suite knows one env family."""

    name: str  # configs/<name>.yaml, the compose service, `python -m servers <name>`
    env_id: str  # the Gymnasium id, resrl/<Name>-v0
    entry_point: str  # module:class of its TextEnv
    system_prompt: str  # what the agent is told
    whole_reply: bool = False  # the env reads the whole reply (code, calls); else its `Action: ...` line
    example_actions: tuple[str, ...] = ()  # the actions the prompt shows (tests play every one)
    eval_split: str = "eval"  # the held-out split
    expert_kwargs: Mapping[str, Any] = field(default_factory=dict)  # env arguments its expert needs

    def expert_reply(self, action: str) -> str:
        """The reply that takes ``action`` (an expert's, for demonstrations) in this family's format."""
        return action if self.whole_reply else f"Action: {action}"
