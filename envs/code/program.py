"""From an agent's reply to a test program, and from a sandbox result to feedback the agent can use."""

from __future__ import annotations

import re

from envs.code.problems import Problem
from sandbox.models import ExecuteResult

_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)
FEEDBACK_CHARS = 1500


def extract_code(reply: str) -> str:
    """The code in a reply: the last fenced block that holds any, else the reply itself."""
    blocks = [block for block in _FENCE.findall(reply) if block.strip()]
    return blocks[-1] if blocks else reply


def test_program(problem: Problem, reply: str) -> str:
    """The program the sandbox runs: the solution, the problem's tests, and the call that runs them.
    A solution that defines the entry point stands alone; anything else continues the prompt (a body)."""
    code = extract_code(reply)
    if not re.search(rf"^\s*def\s+{re.escape(problem.entry_point)}\s*\(", code, re.MULTILINE):
        code = problem.prompt + code
    return f"{code}\n\n{problem.test}\n\ncheck({problem.entry_point})\n"


def feedback(result: ExecuteResult, attempt: int, attempts: int) -> str:
    """What the agent reads after a failed attempt: why it failed and the end of the error output."""
    reasons = {
        "error": "the tests failed",
        "timeout": "it ran out of time",
        "memory": "it ran out of memory",
        "output_limit": "it printed too much",
        "killed": "it was killed",
        "ok": "the tests passed",
    }
    left = attempts - attempt
    head = f"Attempt {attempt} of {attempts}: {reasons[result.status]}."
    tail = (result.stderr or result.stdout).strip()[-FEEDBACK_CHARS:]
    plural = "s" if left != 1 else ""
    more = f" You have {left} attempt{plural} left; reply with the corrected function." if left else ""
    return f"{head}\n{tail}\n{more}".strip() if tail else f"{head}{more}"
