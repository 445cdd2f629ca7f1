"""Products and goals in WebShop's own terms, read from its real files.

``items_shuffle*.json`` (products), ``items_ins_v2*.json`` (attributes per ASIN) and
``items_human_ins.json`` (human goals per ASIN) are parsed the way WebShop parses them: prices from
``pricing`` (a range keeps its two ends; a missing price is $100), options lower-cased with ``/``
shown as `` | ``, goals with a price limit drawn above the target's price and appended to the
instruction. Both this loader and the generator produce a :class:`Catalogue`.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PRICE_LIMITS = [10.0 * i for i in range(1, 100)]
EVAL_GOALS = 500  # WebShop's held-out slice of its shuffled goals
GOAL_SEED = 233  # WebShop's seed for goal order and price limits


@dataclass(frozen=True)
class Product:
    asin: str
    title: str
    price: float
    price_tag: str
    category: str
    query: str
    product_category: str
    description: str
    bullet_points: tuple[str, ...]
    attributes: tuple[str, ...]
    options: dict[str, list[str]] = field(default_factory=dict)
    rating: str = "N.A."
    reviews: tuple[str, ...] = ()

    def search_text(self) -> str:
        """What the search index sees of the product."""
        values = " ".join(v for values in self.options.values() for v in values)
        return " ".join([self.title, self.query, self.product_category, " ".join(self.bullet_points),
                         self.description, values])


@dataclass(frozen=True)
class Goal:
    """What to buy: an instruction, the target it was written for, and what the reward checks."""

    asin: str
    instruction: str
    attributes: tuple[str, ...]
    options: tuple[str, ...]
    price_upper: float
    query: str  # a search query that finds the target (what a scripted expert types)


@dataclass(eq=False)  # compared and hashed by identity: its search index is cached per catalogue object
class Catalogue:
    """Products by ASIN, goals in their fixed order (``eval`` is the first slice), and where they came from."""

    products: dict[str, Product]
    goals: list[Goal]
    source: str

    def split(self, name: str) -> list[Goal]:
        held_out = min(EVAL_GOALS, len(self.goals) // 5)
        if name == "eval":
            return self.goals[:held_out]
        if name == "train":
            return self.goals[held_out:]
        if name == "all":
            return list(self.goals)
        raise ValueError(f"unknown split {name!r}; expected train, eval or all")


def parse_price(pricing: Any) -> tuple[list[float], str]:
    """WebShop's rule: ``"$12.99"`` → one price; ``"$10.00 - $20.00"`` → its two ends; none → $100."""
    if not pricing:
        return [100.0], "$100.0"
    prices = [float(re.sub(r"[^\d.]", "", part) or 0) for part in str(pricing).split("$")[1:]][:2]
    if not prices:
        return [100.0], "$100.0"
    return prices, f"${prices[0]}" if len(prices) == 1 else f"${prices[0]} to ${prices[1]}"


def product_from_record(record: dict[str, Any], attributes: list[str], rng: random.Random) -> Product:
    prices, tag = parse_price(record.get("pricing"))
    price = prices[0] if len(prices) == 1 else round(rng.uniform(prices[0], prices[1]), 2)
    options: dict[str, list[str]] = {}
    for name, contents in (record.get("customization_options") or {}).items():
        if contents:
            options[name.lower()] = [str(c["value"]).strip().replace("/", " | ").lower() for c in contents]
    bullets = record.get("small_description") or []
    return Product(
        asin=str(record["asin"]).upper(), title=str(record.get("name", "")), price=price, price_tag=tag,
        category=str(record.get("category", "")), query=str(record.get("query", "")).lower(),
        product_category=str(record.get("product_category", "")), description=str(record.get("full_description", "")),
        bullet_points=tuple(bullets if isinstance(bullets, list) else [str(bullets)]), attributes=tuple(attributes),
        options=options, rating=str(record.get("average_rating") or "N.A."),
    )


def price_limit(price: float, rng: random.Random) -> float:
    """WebShop's limit: two of the four price steps above the price, the larger one (none: no limit)."""
    above = [p for p in PRICE_LIMITS if p > price][:4]
    if len(above) < 2:
        return 1_000_000.0
    return sorted(rng.sample(above, 2))[1]


def with_price(instruction: str, upper: float) -> str:
    text = instruction.strip().rstrip(".")
    return f"{text}, and price lower than {upper:.2f} dollars" if upper < 1_000_000 else text


def load_real_catalogue(data_dir: Path) -> Catalogue:
    """The real files in ``data_dir``: ``items_shuffle*.json``, ``items_ins_v2*.json``, ``items_human_ins.json``."""
    def one(pattern: str) -> Path:
        found = sorted(data_dir.glob(pattern))
        if not found:
            raise FileNotFoundError(f"no {pattern} in {data_dir}")
        return found[0]

    rng = random.Random(GOAL_SEED)
    records = json.loads(one("*items_shuffle*.json").read_text(encoding="utf-8"))
    attributes = json.loads(one("*items_ins_v2*.json").read_text(encoding="utf-8"))
    products: dict[str, Product] = {}
    for record in records:
        if record.get("asin") and record["asin"] not in products:
            attrs = attributes.get(record["asin"], {}).get("attributes", [])
            products[str(record["asin"]).upper()] = product_from_record(record, attrs, rng)
    human = json.loads(one("*items_human_ins*.json").read_text(encoding="utf-8"))
    goals = []
    for asin, items in human.items():
        product = products.get(asin.upper())
        if product is None:
            continue
        for item in items:
            if not item.get("instruction_attributes"):
                continue  # WebShop skips goals without attributes
            upper = price_limit(product.price, rng)
            goals.append(Goal(asin=product.asin, instruction=with_price(item["instruction"], upper),
                              attributes=tuple(item["instruction_attributes"]),
                              options=tuple(item.get("instruction_options") or []), price_upper=upper,
                              query=product.query or product.title))
    random.Random(GOAL_SEED).shuffle(goals)
    return Catalogue(products, goals, f"real WebShop files in {data_dir}")
