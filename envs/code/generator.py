"""Easy code problems in HumanEval's format, generated so that a CPU-scale model can learn them.

Each problem comes from a family (add a constant, filter a list, count a letter, ...) with its
constant drawn from a seed, so held-out problems share their families with the train problems but
not their constants: the agent has to read the docstring rather than recall an answer. A problem's
tests are the outputs of its own canonical solution on inputs drawn for it, redrawn until no constant
answer and no other constant of the family passes them. Deterministic for a seed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from envs.code.problems import Problem

TESTS_PER_PROBLEM = 5
_LETTERS = "abcdeilmnorst"
_K = tuple(range(2, 12))
_CHARACTERS = tuple("abdegkmpuy")
_PREFIXES = ("re", "un", "pre", "de", "co", "ex", "sub", "mis", "over", "anti")

Arguments = tuple[Any, ...]


@dataclass(frozen=True)
class Family:
    """Problems alike but for one constant ``{c}``: the entry point's name, signature, one-line docstring
    and body are templates over it; ``arguments`` draws one test call's arguments for a constant."""

    name: str
    signature: str
    doc: str
    body: str
    constants: tuple[Any, ...]
    arguments: Callable[[random.Random, Any], Arguments]

    @property
    def kind(self) -> str:
        """The family's name without its constant (``cap_{c}`` is ``cap``): a problem's task type."""
        return self.name.split("{", 1)[0].rstrip("_")


def _int(rng: random.Random, _constant: Any) -> Arguments:
    return (rng.randint(-20, 30),)


def _ints(rng: random.Random, _constant: Any) -> Arguments:
    return ([rng.randint(-5, 15) for _ in range(rng.randint(2, 12))],)


def _word(rng: random.Random, _constant: Any) -> Arguments:
    return ("".join(rng.choice(_LETTERS) for _ in range(rng.randint(2, 7))),)


def _word_with(rng: random.Random, part: str) -> Arguments:
    """A word that holds ``part`` (at its start half of the time) or, one time in four, does not."""
    (letters,) = _word(rng, part)
    if rng.random() < 0.25:
        return (letters,)
    cut = 0 if rng.random() < 0.5 else rng.randint(0, len(letters))
    return (letters[:cut] + part + letters[cut:],)


FAMILIES: tuple[Family, ...] = (
    Family("add_{c}", "(x: int) -> int", "Return x plus {c}.", "return x + {c}", _K, _int),
    Family("times_{c}", "(x: int) -> int", "Return x multiplied by {c}.", "return x * {c}", _K, _int),
    Family("cap_{c}", "(x: int) -> int", "Return x, or {c} if x is larger than {c}.", "return min(x, {c})", _K, _int),
    Family("is_multiple_of_{c}", "(x: int) -> bool", "Return True if x is divisible by {c}, else False.",
           "return x % {c} == 0", _K, _int),
    Family("scale_by_{c}", "(xs: list[int]) -> list[int]", "Return the numbers in xs, each multiplied by {c}.",
           "return [x * {c} for x in xs]", _K, _ints),
    Family("above_{c}", "(xs: list[int]) -> list[int]", "Return the numbers in xs that are greater than {c}.",
           "return [x for x in xs if x > {c}]", _K, _ints),
    Family("first_{c}", "(xs: list[int]) -> list[int]", "Return the first {c} numbers of xs.", "return xs[:{c}]",
           _K, _ints),
    Family("count_above_{c}", "(xs: list[int]) -> int", "Return how many numbers in xs are greater than {c}.",
           "return sum(1 for x in xs if x > {c})", _K, _ints),
    Family("sum_above_{c}", "(xs: list[int]) -> int", "Return the sum of the numbers in xs that are greater than {c}.",
           "return sum(x for x in xs if x > {c})", _K, _ints),
    Family("repeat_{c}", "(s: str) -> str", "Return s repeated {c} times.", "return s * {c}", _K, _word),
    Family("count_{c}", "(s: str) -> int", "Return how many times the letter '{c}' occurs in s.",
           "return s.count('{c}')", _CHARACTERS, _word_with),
    Family("drop_{c}", "(s: str) -> str", "Return s with every '{c}' removed.", "return s.replace('{c}', '')",
           _CHARACTERS, _word_with),
    Family("add_prefix_{c}", "(s: str) -> str", "Return s with '{c}' put in front of it.", "return '{c}' + s",
           _PREFIXES, _word_with),
    Family("starts_with_{c}", "(s: str) -> bool", "Return True if s starts with '{c}', else False.",
           "return s.startswith('{c}')", _PREFIXES, _word_with),
)


def available_problems() -> int:
    """How many distinct problems the families can make."""
    return sum(len(family.constants) for family in FAMILIES)


def generate_problems(count: int | None = None, seed: int = 0) -> list[Problem]:
    """``count`` distinct problems (default: every one the families can make), drawn with ``seed``;
    their task ids are ``Generated/<i>`` in the order drawn, so fewer problems are a prefix of more."""
    count = available_problems() if count is None else count
    if not 0 < count <= available_problems():
        raise ValueError(f"count must be between 1 and {available_problems()}; got {count}")
    rng = random.Random(seed)
    choices = [(family, constant) for family in FAMILIES for constant in family.constants]
    rng.shuffle(choices)
    return [_problem(f"Generated/{index}", family, constant, rng)
            for index, (family, constant) in enumerate(choices[:count])]


def _problem(task_id: str, family: Family, constant: Any, rng: random.Random) -> Problem:
    name = family.name.format(c=constant)
    prompt = f'def {name}{family.signature}:\n    """{family.doc.format(c=constant)}"""\n'
    solution = f"    {family.body.format(c=constant)}\n"
    solve, *others = (_function(family, c) for c in (constant, *(c for c in family.constants if c != constant)))
    for _ in range(1000):
        calls = [family.arguments(rng, constant) for _ in range(TESTS_PER_PROBLEM)]
        outputs = [solve(*arguments) for arguments in calls]
        if len(set(map(repr, outputs))) > 1 and all(any(other(*arguments) != output for arguments, output
                                                        in zip(calls, outputs, strict=True)) for other in others):
            break
    else:
        raise RuntimeError(f"no tests found that tell {name} from its family")
    asserts = "".join(f"    assert candidate({', '.join(map(repr, arguments))}) == {output!r}\n"
                      for arguments, output in zip(calls, outputs, strict=True))
    return Problem(task_id, prompt, name, f"def check(candidate):\n{asserts}", solution, family.kind)


def _function(family: Family, constant: Any) -> Callable[..., Any]:
    """The family's body for ``constant``, as a function: our own template, run to compute outputs."""
    namespace: dict[str, Any] = {}
    exec(f"def solve{family.signature}:\n    {family.body.format(c=constant)}\n", namespace)
    solve: Callable[..., Any] = namespace["solve"]
    return solve
