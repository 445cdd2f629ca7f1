"""Function calls read out of model text with ``ast``, never evaluated.

A reply such as ``[cd(folder='docs'), mkdir(dir_name="tmp")]`` (a list, a single call, or either in
a code fence) becomes :class:`Call` records holding a function name and literal arguments only:
strings, numbers, booleans, None, and lists, tuples, dicts and sets of them. Anything else — names,
attribute walks, operators, nested calls, lambdas, comprehensions — is refused with the reason, as
are functions the entry does not offer, oversized texts and too deeply nested values.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

MAX_TEXT_CHARS = 20_000
MAX_CALLS = 64
MAX_NODES = 5_000
MAX_DEPTH = 16
_FENCE = re.compile(r"```[a-z]*\s*\n?(.*?)```", re.DOTALL | re.IGNORECASE)


class CallError(ValueError):
    """The text holds calls, but not ones that may run; the message says why (shown to the agent)."""


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    def text(self) -> str:
        """The call as Python source (literals rendered with ``repr``)."""
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.name}({', '.join(parts)})"

    def decoded(self) -> dict[str, dict[str, Any]]:
        """BFCL's decoded form, ``{name: {param: value}}`` (what its AST checker takes)."""
        return {self.name: dict(self.kwargs)}


def parse_calls(text: str, allowed: Collection[str], *, positional: bool = True) -> list[Call] | None:
    """The calls in ``text``; None when it holds none (a plain answer). Raises :class:`CallError` for
    calls that are not allowed. ``positional=False`` refuses positional arguments (BFCL's AST
    categories only read keyword arguments)."""
    if len(text) > MAX_TEXT_CHARS:
        raise CallError(f"the calls are longer than {MAX_TEXT_CHARS} characters")
    blocks = _FENCE.findall(text)
    source = (blocks[-1] if blocks else text).strip("`\n ")
    if not source:
        return None
    if not source.startswith("["):
        source = f"[{source}"
    if not source.endswith("]"):
        source = f"{source}]"
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as error:
        if "nest" in str(error.msg):  # the parser's own depth limit
            raise CallError("the calls are nested too deeply") from None
        return None  # not Python: a plain answer
    except ValueError:
        return None
    except (RecursionError, MemoryError):
        raise CallError("the calls are nested too deeply") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise CallError(f"the calls hold more than {MAX_NODES} syntax nodes")
    body = tree.body
    elements = body.elts if isinstance(body, ast.List | ast.Tuple) else [body]
    if not elements or not all(isinstance(element, ast.Call) for element in elements):
        return None  # e.g. a list of words: no calls
    if len(elements) > MAX_CALLS:
        raise CallError(f"more than {MAX_CALLS} calls in one reply")
    return [_call(element, set(allowed), positional) for element in elements]  # type: ignore[arg-type]


def _call(node: ast.Call, allowed: set[str], positional: bool) -> Call:
    name = _dotted_name(node.func)
    if name not in allowed:
        offered = ", ".join(sorted(allowed)) or "none"
        raise CallError(f"{name!r} is not one of the functions you can call ({offered})")
    if node.args and not positional:
        raise CallError(f"{name}: pass every argument by keyword (name=value)")
    if any(keyword.arg is None for keyword in node.keywords) or any(isinstance(a, ast.Starred) for a in node.args):
        raise CallError(f"{name}: *args and **kwargs are not allowed")
    args = tuple(_literal(arg, name, 1) for arg in node.args)
    kwargs = {str(keyword.arg): _literal(keyword.value, name, 1) for keyword in node.keywords}
    return Call(name, args, kwargs)


def _dotted_name(node: ast.expr) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        raise CallError(f"{ast.unparse(node)[:80]!r} is not a function name")
    parts.append(node.id)
    return ".".join(reversed(parts))


def _literal(node: ast.expr, function: str, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise CallError(f"{function}: an argument is nested more than {MAX_DEPTH} levels deep")
    if isinstance(node, ast.Constant) and not isinstance(node.value, bytes):
        return "..." if node.value is Ellipsis else node.value
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd)
            and isinstance(node.operand, ast.Constant) and isinstance(node.operand.value, int | float | complex)
            and not isinstance(node.operand.value, bool)):
        number = node.operand.value
        return -number if isinstance(node.op, ast.USub) else number
    if isinstance(node, ast.List):
        return [_literal(item, function, depth + 1) for item in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_literal(item, function, depth + 1) for item in node.elts)
    if isinstance(node, ast.Set):
        try:
            return {_literal(item, function, depth + 1) for item in node.elts}
        except TypeError as error:
            raise CallError(f"{function}: {error}") from None
    if isinstance(node, ast.Dict):
        if any(key is None for key in node.keys):
            raise CallError(f"{function}: ** inside a dict is not allowed")
        try:
            return {_literal(key, function, depth + 1): _literal(value, function, depth + 1)  # type: ignore[arg-type]
                    for key, value in zip(node.keys, node.values, strict=True)}
        except TypeError as error:
            raise CallError(f"{function}: {error}") from None
    shown = ast.unparse(node)
    raise CallError(f"{function}: arguments must be literal values (strings, numbers, True/False/None, lists, "
                    f"dicts); got {shown[:80]!r}")
