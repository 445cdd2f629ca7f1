"""``resrl/WebShop-v0``: find and buy the product an instruction describes, in a simulated shop.

Pages: search → results (50 hits, 10 per page) → item (options, sub-pages Description / Features /
Reviews / Attributes) → ``click[Buy Now]``, which ends the episode with WebShop's reward
(``envs.webshop.reward``, its parts in ``info["reward_parts"]``). Actions are ``search[query]`` on
the search page and ``click[element]`` for what the page lists; anything else is an invalid action
whose observation says why, and changes nothing. The step limit (15) truncates.

``reward_mode="score"`` (WebShop's own) pays the score, with partial credit for a product of the right
kind; ``"exact"`` pays 1 only for a purchase that meets the whole instruction (score 1) and 0 otherwise,
the success that Avg@k counts, so training optimises what it is judged on. Either way the score is in
``info["reward_parts"]["total"]``.

The catalogue (real WebShop files from ``data_path`` / ``$WEBSHOP_DATA``, else the built-in
generator) and its search index are built once per process and shared by every env.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from envs.core import TextEnv, Transition
from envs.webshop.generator import generate_catalogue
from envs.webshop.products import Catalogue, Goal, Product, load_real_catalogue
from envs.webshop.reward import get_reward
from envs.webshop.search import shared_index

PAGE_SIZE = 10
SUB_PAGES = ("Description", "Features", "Reviews", "Attributes")
_ACTION = re.compile(r"^(search|click)\[(.*)\]$", re.DOTALL | re.IGNORECASE)
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "webshop"
REWARD_MODES = ("score", "exact")


@dataclass
class _Page:
    kind: str  # search | results | item | Description | Features | Reviews | Attributes
    query: str = ""
    page: int = 1
    hits: list[str] = field(default_factory=list)
    asin: str = ""
    chosen: dict[str, str] = field(default_factory=dict)


class WebShopEnv(TextEnv):
    """See the module docstring. ``info``: ``task_id`` (the goal), ``asin`` of the target, ``source``
    (which catalogue), ``page``; on Buy Now also ``bought``, ``options`` and ``reward_parts``."""

    invalid_observation: ClassVar[str] = "That is not an action on this page."

    def __init__(self, *, data_path: str | None = None, source: str = "auto", split: str = "train",
                 num_products: int = 1000, generator_seed: int = 0, max_steps: int = 15,
                 reward_mode: str = "score", render_mode: str | None = None) -> None:
        if reward_mode not in REWARD_MODES:
            raise ValueError(f"reward_mode must be one of {REWARD_MODES}, got {reward_mode!r}")
        super().__init__(max_steps=max_steps, render_mode=render_mode)
        self.reward_mode = reward_mode
        self.catalogue = catalogue(source, data_path, num_products, generator_seed)
        self.index = shared_index(self.catalogue)
        self.split = split
        self.goals = self.catalogue.split(split)
        if not self.goals:
            raise ValueError(f"split {split!r} of the {self.catalogue.source} has no goals")
        self._goal = self.goals[0]
        self._page = _Page("search")

    @property
    def num_tasks(self) -> int:
        return len(self.goals)

    def _reset_task(self, options: dict[str, Any]) -> tuple[str, dict[str, Any], list[str] | None]:
        index = self._choose_task(options, len(self.goals), lambda i: f"{self.split}-{i}", f"split {self.split}")
        self._goal = self.goals[index]
        self._page = _Page("search")
        info = {"task_id": f"{self.split}-{index}", "asin": self._goal.asin, "source": self.catalogue.source,
                "instruction": self._goal.instruction, "page": "search"}
        return self._render(), info, None

    def expert_action(self) -> str:
        """The scripted expert's next action for the episode's goal (:func:`expert_actions`)."""
        return expert_actions(self, self._goal)[self._steps]

    def _step_valid(self, action: str) -> tuple[Transition, list[str] | None]:
        match = _ACTION.match(action)
        if match is None:
            return self._refuse("actions are search[query] or click[element], brackets balanced")
        verb, argument = match.group(1).lower(), match.group(2).strip()
        if "[" in argument or "]" in argument:
            return self._refuse("brackets inside an action must be balanced: one [...] per action")
        if verb == "search":
            if self._page.kind != "search":
                return self._refuse("there is no search box on this page; click[Back to Search] first")
            if not argument:
                return self._refuse("the search query is empty")
            hits = self.index.search(argument)
            self._page = _Page("results", query=argument, hits=hits)
            return self._moved()
        target = self._clickable().get(argument.lower())
        if target is None:
            return self._refuse(f"{argument[:80]!r} is not clickable here")
        return self._click(target)

    # -- clicking ---------------------------------------------------------------------------
    def _clickable(self) -> dict[str, str]:
        """What can be clicked on this page, lower-cased → as shown."""
        page, shown = self._page, []
        if page.kind != "search":
            shown.append("Back to Search")
        if page.kind == "results":
            if page.page > 1:
                shown.append("< Prev")
            if page.page * PAGE_SIZE < len(page.hits):
                shown.append("Next >")
            shown.extend(self._visible_hits())
        elif page.kind == "item":
            shown.append("< Prev")
            shown.extend(v for values in self._product().options.values() for v in values)
            shown.extend([*SUB_PAGES, "Buy Now"])
        elif page.kind in SUB_PAGES:
            shown.append("< Prev")
        return {item.lower(): item for item in shown}

    def _click(self, target: str) -> tuple[Transition, list[str] | None]:
        page = self._page
        if target == "Back to Search":
            self._page = _Page("search")
        elif target == "Next >":
            page.page += 1
        elif target == "< Prev" and page.kind == "results":
            page.page -= 1
        elif target == "< Prev" and page.kind == "item":
            self._page = _Page("results", query=page.query, page=page.page, hits=page.hits)
        elif target == "< Prev":
            page.kind = "item"
        elif page.kind == "results":
            self._page = _Page("item", query=page.query, page=page.page, hits=page.hits, asin=target)
        elif target in SUB_PAGES:
            page.kind = target
        elif target == "Buy Now":
            return self._buy()
        else:  # an option value: it replaces the choice of its option type
            name = next(n for n, values in self._product().options.items() if target in values)
            page.chosen[name] = target
        return self._moved()

    def _buy(self) -> tuple[Transition, list[str] | None]:
        product, target = self._product(), self.catalogue.products[self._goal.asin]
        parts = get_reward(product, product.price, self._page.chosen, self._goal, target)
        info = {"bought": product.asin, "options": dict(self._page.chosen), "reward_parts": parts.as_dict(),
                "page": "done"}
        observation = f"Thank you for shopping with us! You bought {product.title}. Your score: {parts.total:.3f}"
        exact = parts.total >= 1.0
        reward = float(exact) if self.reward_mode == "exact" else parts.total
        return Transition(observation, reward, True, exact, info), []

    def _refuse(self, reason: str) -> tuple[Transition, list[str] | None]:
        observation = f"Invalid action: {reason}.\n\n{self._render()}"
        return Transition(observation, 0.0, False, False, {"invalid_reason": reason, "page": self._page.kind},
                          invalid=True), self._actions()

    def _moved(self) -> tuple[Transition, list[str] | None]:
        return Transition(self._render(), 0.0, False, False, {"page": self._page.kind}), self._actions()

    def _actions(self) -> list[str] | None:
        """Every click on the page; None on the search page, whose query is free text."""
        if self._page.kind == "search":
            return None
        return [f"click[{item}]" for item in self._clickable().values()]

    # -- rendering --------------------------------------------------------------------------
    def _product(self) -> Product:
        return self.catalogue.products[self._page.asin]

    def _visible_hits(self) -> list[str]:
        start = (self._page.page - 1) * PAGE_SIZE
        return self._page.hits[start:start + PAGE_SIZE]

    def _render(self) -> str:
        page = self._page
        lines = [f"Instruction: {self._goal.instruction}"]
        if page.kind == "search":
            lines.append("[Search] Type search[your query] to look for products.")
            return "\n".join(lines)
        lines.append("[Back to Search]")
        if page.kind == "results":
            total = len(page.hits)
            pages = max(1, -(-total // PAGE_SIZE))
            lines.append(f"Results for {page.query!r}: page {page.page} of {pages} ({total} results)")
            clickable = self._clickable()
            lines.extend(f"[{button}]" for button in ("< Prev", "Next >") if button.lower() in clickable)
            for asin in self._visible_hits():
                product = self.catalogue.products[asin]
                lines.append(f"[{asin}] {product.title} | {product.price_tag}")
            if not page.hits:
                lines.append("No products match this search.")
            return "\n".join(lines)
        product = self._product()
        lines.append("[< Prev]")
        if page.kind == "item":
            lines += [product.title, f"Price: {product.price_tag}", f"Rating: {product.rating}"]
            for name, values in product.options.items():
                chosen = f" (selected: {page.chosen[name]})" if name in page.chosen else ""
                lines.append(f"{name}: {' '.join(f'[{v}]' for v in values)}{chosen}")
            lines.append(" ".join(f"[{p}]" for p in (*SUB_PAGES, "Buy Now")))
        else:
            content = {"Description": product.description, "Features": "\n".join(product.bullet_points),
                       "Reviews": "\n".join(product.reviews) or "No reviews yet.",
                       "Attributes": ", ".join(product.attributes) or "None listed."}[page.kind]
            lines += [f"{page.kind} of {product.title}:", content]
        return "\n".join(lines)


def catalogue(source: str = "auto", data_path: str | None = None, num_products: int = 1000,
              generator_seed: int = 0) -> Catalogue:
    """The catalogue for these arguments, made once per process.

    ``source``: "files" (real WebShop files from ``data_path`` or ``$WEBSHOP_DATA``, else an error),
    "generated" (the built-in generator, using WebShop's attribute list and human instructions from
    ``../shared/data/webshop`` or ``data_path`` when they are there), or "auto" (files when a
    product file is found, else generated).
    """
    if source not in ("auto", "files", "generated"):
        raise ValueError(f"source must be auto, files or generated; got {source!r}")
    directory = Path(data_path or os.environ.get("WEBSHOP_DATA") or SHARED_DATA).resolve()
    return _catalogue(source, directory, num_products, generator_seed)


@functools.cache
def _catalogue(source: str, directory: Path, num_products: int, generator_seed: int) -> Catalogue:
    """Cached on normalised arguments, so every spelling of the same request shares one catalogue."""
    has_products = directory.is_dir() and any(directory.glob("items_shuffle*.json"))
    if source == "files" or (source == "auto" and has_products):
        if not has_products:
            raise FileNotFoundError(f"no items_shuffle*.json in {directory} (set data_path or $WEBSHOP_DATA)")
        return load_real_catalogue(directory)
    attributes = next(iter(sorted(directory.glob("items_ins_v2*.json"))), None) if directory.is_dir() else None
    human = directory / "human_goals.json"
    return generate_catalogue(seed=generator_seed, num_products=num_products, attributes_path=attributes,
                              human_goals_path=human if human.is_file() else None)


def expert_actions(env: WebShopEnv, goal: Goal) -> list[str]:
    """What a scripted expert does for ``goal`` from the search page (used by tests and benchmarks):
    search the goal's query, page to the target, open it, choose the goal's options, buy."""
    hits = env.index.search(goal.query)
    if goal.asin not in hits:
        raise ValueError(f"the target {goal.asin} is not found by {goal.query!r}")
    position = hits.index(goal.asin)
    product = env.catalogue.products[goal.asin]
    chosen = [v for v in goal.options if any(v in values for values in product.options.values())]
    return ([f"search[{goal.query}]"] + ["click[Next >]"] * (position // PAGE_SIZE) + [f"click[{goal.asin}]"]
            + [f"click[{v}]" for v in chosen] + ["click[Buy Now]"])
