"""BFCL's entries as ``bfcl-eval`` ships them (read as data: nothing of the harness is imported).

Categories, their ground truth, the multi-turn function documentation, and the fixed train/eval
partition of every category's entries.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envs.datasets import jsonl_lines, seeded_split

AST_CATEGORIES = (
    "simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance", "live_simple", "live_multiple",
    "live_parallel", "live_parallel_multiple", "live_irrelevance", "live_relevance",
)
MULTI_TURN_CATEGORIES = ("multi_turn_base", "multi_turn_miss_func", "multi_turn_miss_param", "multi_turn_long_context")
CATEGORIES = AST_CATEGORIES + MULTI_TURN_CATEGORIES
EVAL_FRACTION = 0.2  # a fifth of each category is held out (seed 0)
# The multi-turn backends and their documentation files (WebSearchAPI and the memory APIs need the
# internet or downloaded models, so their categories are not offered).
DOC_FILES = {
    "GorillaFileSystem": "gorilla_file_system.json", "MathAPI": "math_api.json", "MessageAPI": "message_api.json",
    "TwitterAPI": "posting_api.json", "TicketAPI": "ticket_api.json", "TradingBot": "trading_bot.json",
    "TravelAPI": "travel_booking.json", "VehicleControlAPI": "vehicle_control.json",
}


@dataclass(frozen=True)
class Entry:
    """One BFCL test entry: the conversation turns, the functions, and the ground truth."""

    id: str
    category: str
    turns: list[list[dict[str, str]]]
    functions: list[dict[str, Any]]
    ground_truth: list[Any]
    # multi-turn only
    initial_config: dict[str, Any] = field(default_factory=dict)
    involved_classes: list[str] = field(default_factory=list)
    missed_functions: dict[int, list[str]] = field(default_factory=dict)

    @property
    def multi_turn(self) -> bool:
        return self.category in MULTI_TURN_CATEGORIES


def data_dir() -> Path:
    """``bfcl_eval/data`` of the installed package, found without importing it."""
    spec = importlib.util.find_spec("bfcl_eval")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("BFCL needs the bfcl-eval package: pip install --no-deps bfcl-eval (see the README)")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for _, line in jsonl_lines(path)]


@functools.cache
def load_entries(category: str, root: Path | None = None) -> tuple[Entry, ...]:
    """Every entry of ``category`` with its ground truth (irrelevance categories have none), cached per process."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown BFCL category {category!r}; expected one of {CATEGORIES}")
    root = root or data_dir()
    answer_file = root / "possible_answer" / f"BFCL_v4_{category}.json"
    answers = {a["id"]: a["ground_truth"] for a in _jsonl(answer_file)} if answer_file.exists() else {}
    entries = []
    for record in _jsonl(root / f"BFCL_v4_{category}.json"):
        if category in MULTI_TURN_CATEGORIES:
            functions = [doc for cls in record["involved_classes"] for doc in class_docs(cls, root)
                         if doc["name"] not in record.get("excluded_function", [])]
        else:
            functions = record["function"]
        entries.append(Entry(
            id=record["id"], category=category, turns=record["question"], functions=functions,
            ground_truth=answers.get(record["id"], []), initial_config=record.get("initial_config", {}),
            involved_classes=record.get("involved_classes", []),
            missed_functions={int(k): v for k, v in record.get("missed_function", {}).items()},
        ))
    return tuple(entries)


@functools.cache
def class_docs(class_name: str, root: Path) -> tuple[dict[str, Any], ...]:
    if class_name not in DOC_FILES:
        raise ValueError(f"the BFCL backend {class_name!r} is not offered (it needs the internet or a model)")
    return tuple(_jsonl(root / "multi_turn_func_doc" / DOC_FILES[class_name]))


def split_entries(entries: tuple[Entry, ...], split: str) -> list[Entry]:
    """``eval``: a fixed fifth of a category's entries (see :func:`envs.datasets.seeded_split`); ``train`` the rest."""
    return seeded_split(entries, split, lambda entry: entry.id, eval_fraction=EVAL_FRACTION)


_OPENAI_TYPES = {"dict": "object", "float": "number", "tuple": "array", "any": "string"}


def openai_tools(functions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The functions as an OpenAI-style tool list (for chat templates that take ``tools``)."""
    def convert(schema: Any) -> Any:
        if isinstance(schema, dict):
            return {key: (_OPENAI_TYPES.get(value, value) if key == "type" and isinstance(value, str)
                          else convert(value)) for key, value in schema.items()}
        if isinstance(schema, list):
            return [convert(item) for item in schema]
        return schema

    return [{"type": "function", "function": {"name": f["name"], "description": f.get("description", ""),
                                              "parameters": convert(f.get("parameters", {}))}} for f in functions]
